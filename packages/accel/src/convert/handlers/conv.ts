import type { HandlerTable } from './registry';

export const convHandlers: HandlerTable = {};
