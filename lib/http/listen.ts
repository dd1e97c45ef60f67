import http, { type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import { bindProblem } from '../core/bind.js'
import { StartError } from '../core/errors.js'

/** An HTTP port bound before the process builds its parts, so they know the port and a taken port stops the start at once. */
export interface BoundServer {
  readonly port: number
  /** Starts answering requests with `app`; requests that came before it waited for it. */
  serve(app: RequestListener): void
  /** Stops accepting and drops idle keep-alive sockets. */
  close(): Promise<void>
}

/** Binds `host:port`; an error names the option an operator changes (`--listen 0.0.0.0:7070: address already in use`). */
export async function bindHttp(option: string, host: string, port: number): Promise<BoundServer> {
  const server = http.createServer()
  // Requests that arrive while the process still builds its parts wait for the app, and are then answered in order.
  let app: RequestListener | undefined
  let closing: Promise<void> | undefined
  const waiting: Array<Parameters<RequestListener>> = []
  server.on('request', (req, res) => {
    if (app) app(req, res)
    else waiting.push([req, res])
  })
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', (err: NodeJS.ErrnoException) => reject(new StartError(`${option} ${hostPort(host, port)}: ${bindProblem(err)}`, { cause: err })))
    server.listen(port, host)
  })
  return {
    port: (server.address() as AddressInfo).port,
    serve: (given) => {
      app = given
      for (const [req, res] of waiting.splice(0)) given(req, res)
    },
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })),
  }
}

/** A host as it stands in a URL: an IPv6 address is bracketed. */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

export function hostPort(host: string, port: number): string {
  return `${urlHost(host)}:${port}`
}

/** The URL this host reaches a server at that listens on `host` (a wildcard is reached on loopback). */
export function localUrl(host: string, port: number): string {
  const reach = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${hostPort(reach, port)}`
}
