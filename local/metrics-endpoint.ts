import { listenOnLoopback } from './http/listen.ts';
import { localMetrics } from './metrics.ts';

/**
 * The counters of local/metrics.ts for a process outside the stack's (e.g. `npm run load`):
 * `GET /metrics` answers a snapshot, `POST /metrics/reset` starts the counts again. Loopback only.
 */
export const serveLocalMetrics = () =>
  listenOnLoopback(0, (req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(localMetrics.snapshot()));
    } else if (req.method === 'POST' && req.url === '/metrics/reset') {
      localMetrics.reset();
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
