/** The route table as the inspect commands read it: one catalog snapshot of routes and services. */
import { Catalog } from '../catalog/catalog.js';
import type { ModeContext } from '../mode.js';
import { parseRouteFlag, type Route } from '../routes/route.js';
import { compileTable, type RouteTable } from '../routes/table.js';

export interface TableConfig {
  routesPrefix: string;
  servicesPrefix: string;
  route: string[];
  domain?: string | undefined;
  defaultService?: string | undefined;
  timeout: number;
}

export function openCatalog(config: TableConfig, ctx: ModeContext): Catalog {
  return new Catalog({ store: ctx.store(), log: ctx.log, services: { prefix: config.servicesPrefix }, routes: { prefix: config.routesPrefix } });
}

export function tableOf(catalog: Catalog, config: TableConfig): RouteTable {
  const flags: Route[] = config.route.map((text) => {
    const r = parseRouteFlag(text);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  });
  return compileTable({ routes: [...flags, ...catalog.routes().values()], domain: config.domain, defaultService: config.defaultService });
}

export function actionText(r: Route): string {
  if (r.redirect) return `redirect ${r.redirect.code} ${r.redirect.to}${r.redirect.keepPath ? ' +path' : ''}`;
  if (r.httpsRedirect) return 'https redirect 308, else forward';
  return r.stripPath ? `forward, strip ${r.path}` : 'forward';
}
