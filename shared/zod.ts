/**
 * The service's one zod import (`import * as z from '#shared/zod'`): zod/mini, the functional API of
 * zod 4 (same core and same messages as `import * as z from 'zod'`, a fraction of its bundle size), with
 * the English messages switched on. zod/mini registers no locale by itself, so every issue would read
 * "Invalid input"; the messages reach the marketplace (produceRoute), the internal routes' 400s and the
 * configuration errors. Re-exported with `export *`, never as a namespace object, so the bundler keeps
 * only what is used (an exported namespace object keeps all of zod/mini, every locale included).
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
