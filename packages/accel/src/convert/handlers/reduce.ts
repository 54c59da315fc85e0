import type { HandlerTable } from './registry';

export const reduceHandlers: HandlerTable = {};
