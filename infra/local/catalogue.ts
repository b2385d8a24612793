/**
 * The local product catalogue: what `npm start` hands the API as PRODUCT_CATALOGUE when none is set, so that
 * `npm run market -- hardware` finds a hardware SKU (shape: shared/config.ts CatalogueJson).
 */
export const LOCAL_HARDWARE_SKU = 'sku-local-hardware';

export const LOCAL_CATALOGUE = [{ skuCode: LOCAL_HARDWARE_SKU, kind: 'hardware', name: 'Local appliance' }] as const;
