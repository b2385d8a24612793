/**
 * YOUR PRODUCTS GO HERE: which of your listings are SaaS, packages, hardware or License, and their
 * terms (contract in shared/domain/catalogue.ts). Entries in the PRODUCT_CATALOGUE environment
 * variable (JSON array of the same shape) are taken before these, so a stage can differ without a code
 * change. Products not listed are SaaS, or packages when their order line says ON_DEMAND_PKG.
 */
import type { CatalogueEntry } from '#shared/domain/catalogue';

export const productCatalogue: CatalogueEntry[] = [
  // { skuCode: 'your-hardware-sku', kind: 'hardware', name: 'Edge appliance' },
  // { skuCode: 'your-package-sku', kind: 'package', package: { quota: 10000, threshold: { percent: 20 }, autoRebuy: true } },
  // { productId: 'OFFI...', kind: 'saas', retentionDays: 7 },
];
