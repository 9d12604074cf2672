/** A raw TCP client for tests that need the exact bytes of a request or a response. */
import { connect } from 'node:net';

/**
 * Send `data` (or its pieces, `gapMs` apart, so that the server reads them separately) and
 * collect everything the server sends until it closes the connection or goes quiet for
 * `quietMs` (counted from the last byte either way).
 */
export function raw(port: number, data: string | readonly string[], quietMs = 300, gapMs = 50): Promise<{ text: string; closed: boolean }> {
  const pieces = typeof data === 'string' ? [data] : data;
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    let timer: NodeJS.Timeout;
    const done = (closed: boolean) => { clearTimeout(timer); s.destroy(); resolve({ text, closed }); };
    const arm = () => { clearTimeout(timer); timer = setTimeout(() => done(false), quietMs); };
    s.on('data', (d) => { text += d.toString('latin1'); arm(); });
    s.on('close', () => done(true));
    s.on('error', () => done(true));
    let i = 0;
    const next = () => {
      if (i >= pieces.length || s.destroyed) return;
      s.write(pieces[i++]);
      arm();
      setTimeout(next, gapMs);
    };
    next();
  });
}
