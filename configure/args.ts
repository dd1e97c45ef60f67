// The arguments of `layerseed configure`, checked before anything is written.

export type Runtime = 'containerd' | 'podman' | 'docker'
const RUNTIMES: readonly Runtime[] = ['containerd', 'podman', 'docker']

export interface ConfigureArgs {
  readonly runtime: Runtime
  /** The registry as runtimes name it in image references: `host` or `host:port`. */
  readonly registry: string
  /** How the registry itself is reached when the mirror is down. */
  readonly registryScheme: 'http' | 'https'
  /** The agent's base URL, e.g. http://127.0.0.1:65001. */
  readonly agent: URL
  readonly root: string
}

/** A bad argument, named as the operator typed it; the CLI exits 2 with it. */
export class ConfigureError extends Error {
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`)
    this.name = 'ConfigureError'
  }
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i

function validHost(host: string): boolean {
  if (/^\[[0-9a-f:.]+\]$/i.test(host)) return true
  return host.length <= 253 && host.split('.').every((l) => LABEL.test(l))
}

/** `host[:port]`, optionally with `http://` or `https://` in front (the scheme the registry itself speaks; https by default). */
export function parseRegistry(raw: string): { registry: string; scheme: 'http' | 'https' } {
  const m = /^(?:(https?):\/\/)?((?:\[[^\]]+\])|[^:/[\]]+)(?::(\d{1,5}))?\/?$/i.exec(raw.trim())
  if (!m || !validHost(m[2])) throw new ConfigureError('--registry', `want HOST[:PORT] as image references name the registry (e.g. registry.example.com:5000), got ${JSON.stringify(raw)}`)
  const port = m[3] === undefined ? undefined : Number(m[3])
  if (port !== undefined && (port < 1 || port > 65535)) throw new ConfigureError('--registry', `port ${port} is not 1..65535`)
  const registry = `${m[2].toLowerCase()}${port === undefined ? '' : `:${port}`}`
  return { registry, scheme: m[1]?.toLowerCase() === 'http' ? 'http' : 'https' }
}

/** The agent's base URL: http or https, a host and port, nothing else. */
export function parseAgentUrl(raw: string): URL {
  let u: URL
  try {
    u = new URL(raw.trim())
  } catch {
    throw new ConfigureError('--agent', `want the agent's URL (e.g. http://127.0.0.1:65001), got ${JSON.stringify(raw)}`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigureError('--agent', `want an http or https URL, got ${JSON.stringify(raw)}`)
  if (u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) {
    throw new ConfigureError('--agent', `want just scheme, host and port, got ${JSON.stringify(raw)}`)
  }
  return u
}

export function parseConfigureArgs(argv: readonly string[]): ConfigureArgs {
  const [runtime, ...rest] = argv
  if (!RUNTIMES.includes(runtime as Runtime)) throw new ConfigureError('runtime', `want one of ${RUNTIMES.join(', ')}, got ${JSON.stringify(runtime ?? '')}`)
  const given = new Map<string, string>()
  for (let i = 0; i < rest.length; i++) {
    const m = /^--(registry|agent|root)(?:=(.*))?$/s.exec(rest[i])
    if (!m) throw new ConfigureError(rest[i], 'unknown argument')
    const value = m[2] ?? rest[++i]
    if (value === undefined || value === '') throw new ConfigureError(`--${m[1]}`, 'needs a value')
    if (given.has(m[1])) throw new ConfigureError(`--${m[1]}`, 'given more than once')
    given.set(m[1], value)
  }
  const registryRaw = given.get('registry')
  const agentRaw = given.get('agent')
  if (registryRaw === undefined) throw new ConfigureError('--registry', 'is required')
  if (agentRaw === undefined) throw new ConfigureError('--agent', 'is required')
  const { registry, scheme } = parseRegistry(registryRaw)
  return { runtime: runtime as Runtime, registry, registryScheme: scheme, agent: parseAgentUrl(agentRaw), root: given.get('root') ?? '/' }
}
