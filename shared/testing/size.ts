/**
 * Suite sizes: `npm test` runs the reliability suites at a reduced size, `npm run soak` (SOAK=1) at the
 * size the issue names. One switch, read here, so every suite scales the same way.
 */
export const SOAK = process.env.SOAK === '1';

/** `reduced` under `npm test`, `full` under `npm run soak`. */
export const sized = (reduced: number, full: number): number => (SOAK ? full : reduced);
