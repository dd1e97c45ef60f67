import fs from 'node:fs/promises'
import path from 'node:path'
import { freePort } from './ports.js'
import { spawnLogged, waitFor } from './process.js'

export interface Registry {
  readonly url: string
  readonly host: string
  readonly storageDir: string
  /** Where the registry keeps a blob's bytes (filesystem driver layout). */
  blobDataPath(digestHex: string): string
  stop(): Promise<void>
}

export interface RegistryOptions {
  readonly dir: string
  /** Where the registry sends push notifications. */
  readonly notifyUrl?: string
  /** More endpoints it notifies too, each on its own (every sidecar of a group, say). */
  readonly moreNotifyUrls?: readonly string[]
  readonly notifyToken?: string
  /** Listen address; default 127.0.0.1 on a free port. */
  readonly addr?: { host: string; port: number }
  /** Where the caller reaches it, when that differs from the listen host (e.g. 0.0.0.0 inside a namespace). */
  readonly reachAt?: string
  /** A command prefix, such as `ip netns exec NS`, to run the registry inside a namespace. */
  readonly wrap?: readonly string[]
  /** Client authentication, as distribution's `auth:` section configures it. */
  readonly auth?: RegistryAuth
}

export type RegistryAuth =
  | { readonly token: { readonly realm: string; readonly service: string; readonly issuer: string; readonly rootCertBundle: string } }
  | { readonly htpasswd: { readonly realm: string; readonly path: string } }

function authYaml(a: RegistryAuth): string[] {
  if ('token' in a) {
    const t = a.token
    return ['auth:', '  token:', `    realm: ${JSON.stringify(t.realm)}`, `    service: ${JSON.stringify(t.service)}`, `    issuer: ${JSON.stringify(t.issuer)}`, `    rootcertbundle: ${JSON.stringify(t.rootCertBundle)}`]
  }
  return ['auth:', '  htpasswd:', `    realm: ${JSON.stringify(a.htpasswd.realm)}`, `    path: ${JSON.stringify(a.htpasswd.path)}`]
}

const REGISTRY_BIN = '/usr/bin/docker-registry'

function configYaml(storageDir: string, addr: string, o: RegistryOptions): string {
  const lines = [
    'version: 0.1',
    'log: { level: warn }',
    `storage: { filesystem: { rootdirectory: ${JSON.stringify(storageDir)} }, delete: { enabled: true } }`,
    `http: { addr: "${addr}" }`,
    ...(o.auth ? authYaml(o.auth) : []),
  ]
  const urls = [...(o.notifyUrl ? [o.notifyUrl] : []), ...(o.moreNotifyUrls ?? [])]
  if (urls.length) {
    lines.push('notifications:', '  endpoints:')
    urls.forEach((url, i) => lines.push(
      `    - name: layerseed${i === 0 ? '' : `-${i}`}`,
      `      url: ${JSON.stringify(url)}`,
      ...(o.notifyToken ? [`      headers: { Authorization: [${JSON.stringify(`Bearer ${o.notifyToken}`)}] }`] : []),
      '      timeout: 2s',
      '      threshold: 5',
      '      backoff: 200ms',
      '      ignore: { actions: [pull] }',
    ))
  }
  return `${lines.join('\n')}\n`
}

/** Starts Debian's docker-registry (distribution 2.8) on a free loopback port; with `auth`, /v2/ answers 401 when ready. */
export async function startRegistry(o: RegistryOptions): Promise<Registry> {
  await fs.mkdir(o.dir, { recursive: true })
  const storageDir = path.join(o.dir, 'storage')
  const addr = o.addr ?? { host: '127.0.0.1', port: await freePort() }
  const config = path.join(o.dir, 'config.yml')
  await fs.writeFile(config, configYaml(storageDir, `${addr.host}:${addr.port}`, o))
  const [cmd, ...args] = [...(o.wrap ?? []), REGISTRY_BIN, 'serve', config]
  const proc = spawnLogged(cmd, args, { logFile: path.join(o.dir, 'registry.log') })
  const host = `${o.reachAt ?? addr.host}:${addr.port}`
  const url = `http://${host}`
  try {
    await waitFor(async () => {
      if (proc.child.exitCode !== null) throw new Error(`docker-registry exited; see ${path.join(o.dir, 'registry.log')}`)
      const status = (await fetch(`${url}/v2/`)).status
      return status === 200 || (o.auth !== undefined && status === 401)
    }, { timeoutMs: 15_000, intervalMs: 100, what: 'docker-registry to answer /v2/' })
  } catch (err) {
    await proc.stop()
    throw err
  }
  return {
    url,
    host,
    storageDir,
    blobDataPath: (hex) => path.join(storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data'),
    stop: () => proc.stop(),
  }
}
