import type { HandlerTable } from './registry';

export const resizeHandlers: HandlerTable = {};
