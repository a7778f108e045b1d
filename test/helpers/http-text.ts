/** One HTTP(S) request with a fresh connection (no pooled sockets left behind), body as text. */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface TextResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export async function httpText(url: string, { method = 'GET', ca }: { method?: string; ca?: string } = {}): Promise<TextResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const options = { method, agent: false as const, ...(ca === undefined ? {} : { ca }) };
    const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
