import type { HandlerTable } from './registry';

export const elementwiseHandlers: HandlerTable = {};
