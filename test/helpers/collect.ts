/** A child process's exit code and everything it wrote, once it has exited. */
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { once } from 'node:events';

export interface Collected {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export async function collectOutput(child: ChildProcess & { stdout: Readable; stderr: Readable }): Promise<Collected> {
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}
