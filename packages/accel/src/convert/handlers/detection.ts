import type { HandlerTable } from './registry';

export const detectionHandlers: HandlerTable = {};
