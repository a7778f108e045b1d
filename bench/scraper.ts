// The scraper for bench/ws-legs.ts, in its own process as Prometheus would be, so receiving the
// body is not billed to the probe. Scrapes `url` every `everyS` seconds (jittered 0.5-1.5x, mean
// one, so scrapes meet every phase of the heartbeat schedule), with the Accept header Prometheus
// 2.x sends, and reports each scrape's wall time and size to the parent until told to stop.
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

const [url = '', everyText = '1'] = process.argv.slice(2);
const everyMs = Number(everyText) * 1000;
const ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
let stopping = false;
process.on('message', () => (stopping = true));
process.on('disconnect', () => (stopping = true));

function scrapeOnce(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: ACCEPT } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve(bytes));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

while (!stopping) {
  const t0 = performance.now();
  const bytes = await scrapeOnce();
  const wallMs = performance.now() - t0;
  process.send?.({ wallMs, bytes });
  const wait = everyMs * (0.5 + Math.random()) - (performance.now() - t0);
  if (wait > 0 && !stopping) await delay(wait);
}
process.disconnect?.();
