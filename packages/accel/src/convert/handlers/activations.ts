import type { HandlerTable } from './registry';

export const activationHandlers: HandlerTable = {};
