import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import express, { type Router } from 'express';

/**
 * `/admin`: the web console, static files served by the service itself (no CDN, nothing from the
 * internet). Its scripts are same-origin files, so helmet's Content-Security-Policy
 * (`script-src 'self'`, no inline script) holds for it as for everything else. The console signs
 * nothing in: it calls the admin API with the token the admin pastes, like any other client.
 *
 * Files: `service/console/public/` (copied next to the compiled router by `npm run build`) and
 * uPlot's ES module and stylesheet from node_modules, under `/admin/vendor/`.
 */
const PUBLIC_DIR = join(__dirname, 'public');
const UPLOT_DIR = dirname(require.resolve('uplot/dist/uPlot.esm.js'));
/** The vendor files the page loads, and nothing else of the package. */
const VENDOR_FILES: Record<string, string> = {
  'uPlot.esm.js': join(UPLOT_DIR, 'uPlot.esm.js'),
  'uPlot.min.css': join(UPLOT_DIR, 'uPlot.min.css'),
};

export function consoleRouter(): Router {
  if (!existsSync(join(PUBLIC_DIR, 'index.html'))) throw new Error(`the admin console's files are missing from ${PUBLIC_DIR} (npm run build copies them)`);
  const router = express.Router({ strict: false });
  // The page itself is always revalidated: a deploy changes which scripts it loads.
  const page = (_req: express.Request, res: express.Response) => {
    res.set('Cache-Control', 'no-cache');
    res.sendFile(join(PUBLIC_DIR, 'index.html'));
  };
  router.get('/', page);
  router.use('/assets', express.static(PUBLIC_DIR, { index: false, maxAge: '5m' }));
  router.get('/vendor/:file', (req, res, next) => {
    const file = VENDOR_FILES[String(req.params.file)];
    if (!file) {
      next();
      return;
    }
    res.set('Cache-Control', 'public, max-age=86400');
    res.sendFile(file);
  });
  return router;
}
