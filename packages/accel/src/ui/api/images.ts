import type { RouteModule } from '../context';

/** Placeholder: to be written (see docs/ui-api.md). */
export const imageRoutes: RouteModule = () => {};
