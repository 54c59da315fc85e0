import type { HandlerTable } from './registry';

export const matmulHandlers: HandlerTable = {};
