import fs from 'node:fs/promises'
import path from 'node:path'
import type { OciImage } from './image.js'
import { run } from './process.js'

const TIMEOUT_MS = 180_000

/** An environment in which skopeo reads no user or system registry configuration. */
async function isolatedEnv(workDir: string, registriesConf: string): Promise<NodeJS.ProcessEnv> {
  await fs.mkdir(workDir, { recursive: true })
  const auth = path.join(workDir, 'auth.json')
  await fs.writeFile(auth, '{}')
  return { ...process.env, HOME: workDir, REGISTRY_AUTH_FILE: auth, CONTAINERS_REGISTRIES_CONF: registriesConf }
}

/** A command prefix, such as `ip netns exec NS`, to run skopeo inside a namespace. */
export type Wrap = readonly string[]

function skopeo(wrap: Wrap, args: string[], env: NodeJS.ProcessEnv): Promise<unknown> {
  const [cmd, ...rest] = [...wrap, 'skopeo', ...args]
  return run(cmd, rest, { env, timeoutMs: TIMEOUT_MS })
}

/** Pushes an OCI layout to a registry over plain HTTP. */
export async function skopeoPush(image: OciImage, registryHost: string, ref: string, opts: { workDir?: string; wrap?: Wrap; creds?: string } = {}): Promise<void> {
  const workDir = opts.workDir ?? path.join(image.layoutDir, '.skopeo')
  const conf = path.join(workDir, 'registries.conf')
  const env = await isolatedEnv(workDir, conf)
  await fs.writeFile(conf, '')
  const creds = opts.creds ? [`--dest-creds=${opts.creds}`] : []
  await skopeo(opts.wrap ?? [], ['--registries-conf', conf, 'copy', '--dest-tls-verify=false', ...creds, `oci:${image.layoutDir}:${image.ref}`, `docker://${registryHost}/${ref}`], env)
}

export interface Pulled {
  readonly dir: string
  /** skopeo's `dir:` transport names each blob file by its digest hex. */
  blobPath(digest: string): string
}

/**
 * Copies an image to a `dir:` layout. With `mirror`, skopeo is given a
 * registries.conf that makes `<mirror>/<source host_port>` the mirror of the
 * source registry, the way podman and CRI-O nodes are set up. `creds`
 * (`user:password`) go to the source's token realm (`--src-creds`).
 */
export async function skopeoPull(o: { source: string; destDir: string; mirror?: string; workDir: string; wrap?: Wrap; creds?: string }): Promise<Pulled> {
  const conf = path.join(o.workDir, 'registries.conf')
  const env = await isolatedEnv(o.workDir, conf)
  const host = o.source.split('/')[0]
  const lines = o.mirror
    ? ['[[registry]]', `prefix = "${host}"`, `location = "${host}"`, 'insecure = true', '', '[[registry.mirror]]', `location = "${o.mirror}/${host.replace(':', '_')}"`, 'insecure = true', '']
    : []
  await fs.writeFile(conf, lines.join('\n'))
  await fs.mkdir(o.destDir, { recursive: true })
  const creds = o.creds ? [`--src-creds=${o.creds}`] : []
  await skopeo(o.wrap ?? [], ['--registries-conf', conf, 'copy', '--src-tls-verify=false', ...creds, `docker://${o.source}`, `dir:${o.destDir}`], env)
  return { dir: o.destDir, blobPath: (d) => path.join(o.destDir, d.replace(/^sha256:/, '')) }
}
