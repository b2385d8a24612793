/**
 * The product catalogue (issue: "which products are hardware, SaaS, packages, License comes from a
 * product catalogue in config"). Entries come from shared/product/catalogue.ts (the merchant's file)
 * and the PRODUCT_CATALOGUE environment variable (JSON array, same shape, entries taken first).
 * An order line is matched by skuCode first (it survives a period-type change), then by productId.
 */
export const PRODUCT_KINDS = ['saas', 'package', 'hardware', 'license'] as const;
export type ProductKind = (typeof PRODUCT_KINDS)[number];

export type Threshold = { percent: number } | { amount: number };

export interface PackageTerms {
  /** the quota of one package; default: the order line's linear value */
  quota?: number;
  /** remaining quota at which a rebuy intent is raised */
  threshold?: Threshold;
  /** raise rebuy intents (the buyer's choice; can be overridden per instance) */
  autoRebuy?: boolean;
  /** usage-stop package (用完即停): the service stops at zero; default true (never overrun) */
  stopWhenExhausted?: boolean;
}

export interface CatalogueEntry {
  productId?: string;
  skuCode?: string;
  kind: ProductKind;
  name?: string;
  /** days a frozen instance is kept before the release safety net acts (default 15, plus 1 day margin) */
  retentionDays?: number;
  package?: PackageTerms;
}

export interface ProductRef {
  productId?: string;
  skuCode?: string;
}

export interface Catalogue {
  entries: readonly CatalogueEntry[];
  /** the entry of a product, if the catalogue names it */
  lookup(product: ProductRef): CatalogueEntry | undefined;
  /** the kind of a product: the catalogue's, else from the order line's charging mode */
  kindOf(product: ProductRef, chargingMode?: string): ProductKind;
}

export const DEFAULT_RETENTION_DAYS = 15;
export const RETENTION_MARGIN_DAYS = 1;

export function createCatalogue(entries: readonly CatalogueEntry[]): Catalogue {
  const bySku = new Map<string, CatalogueEntry>();
  const byProduct = new Map<string, CatalogueEntry>();
  // earlier entries win (environment before the file)
  for (const entry of entries) {
    if (entry.skuCode && !bySku.has(entry.skuCode)) bySku.set(entry.skuCode, entry);
    if (entry.productId && !byProduct.has(entry.productId)) byProduct.set(entry.productId, entry);
  }
  const lookup = (p: ProductRef) => (p.skuCode && bySku.get(p.skuCode)) || (p.productId && byProduct.get(p.productId)) || undefined;
  return {
    entries,
    lookup,
    kindOf: (p, chargingMode) => lookup(p)?.kind ?? (chargingMode === 'ON_DEMAND_PKG' ? 'package' : 'saas'),
  };
}
