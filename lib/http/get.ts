import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'

/** How much of an answer is read ahead of its reader. */
const READ_AHEAD_BYTES = 1 << 20

const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) }

/**
 * A GET with node's own client and kept-alive connections. Sidecar answers
 * carry whole blobs; undici's fetch hands a body over as a web stream,
 * which moved a 4 MB answer at a fifth of the speed of an IncomingMessage.
 * `timeoutMs` bounds every silence, before the headers and within the body:
 * the body then errors, so a stalled answer never hangs its reader.
 */
export function httpGet(url: string, opts: { headers?: Record<string, string>; timeoutMs: number; connectTimeoutMs?: number }): Promise<IncomingMessage> {
  const u = new URL(url)
  const mod = u.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    // A socket's own 16 KiB mark pauses it after every read while the reader writes the chunk to disk:
    // a megabyte lets the kernel's bytes keep coming meanwhile (a 48 MB inline answer in 200 ms, not 290).
    // (Node's client takes `highWaterMark` for the socket it opens; @types/node 20 does not list it.)
    const options: http.RequestOptions & { highWaterMark: number } = { highWaterMark: READ_AHEAD_BYTES, headers: opts.headers, agent: u.protocol === 'https:' ? agents.https : agents.http }
    const req = mod.get(u, options, resolve)
    req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`${u.host} sent nothing for ${opts.timeoutMs} ms`)))
    // A host that is down answers nothing at all: with a connect bound, the caller moves on to the next one at once.
    const connectMs = opts.connectTimeoutMs
    if (connectMs !== undefined) {
      req.once('socket', (socket) => {
        if (!socket.connecting) return
        const timer = setTimeout(() => req.destroy(new Error(`${u.host} did not accept a connection within ${connectMs} ms`)), connectMs)
        socket.once('connect', () => clearTimeout(timer))
        socket.once('close', () => clearTimeout(timer))
      })
    }
    req.once('error', reject)
  })
}

/** The whole body of an answer, for small ones (torrents, error messages), up to `max` bytes. */
export async function readBody(res: IncomingMessage, max = 16 << 20): Promise<Buffer> {
  const chunks: Buffer[] = []
  let n = 0
  for await (const c of res) {
    n += (c as Buffer).length
    if (n > max) {
      res.destroy()
      throw new Error(`answer larger than ${max} bytes`)
    }
    chunks.push(c as Buffer)
  }
  return Buffer.concat(chunks)
}
