import type { HandlerTable } from './registry';

export const normalizationHandlers: HandlerTable = {};
