import type { HandlerTable } from './registry';

export const shapeHandlers: HandlerTable = {};
