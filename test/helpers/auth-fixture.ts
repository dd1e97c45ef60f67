import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { loadAgentConfig, loadSidecarConfig, type AgentConfig, type SidecarConfig } from '../../config/index.js'
import { makeOciImage, type OciImage } from '../../demo/image.js'
import { startRegistry, type Registry } from '../../demo/registry.js'
import { skopeoPush } from '../../demo/skopeo.js'
import { makeTokenKeys, type TokenKeys } from './token-keys.js'
import { startTokenServer, type TokenServer } from './token-server.js'

export const ISSUER = 'layerseed-test-issuer'
export const SERVICE = 'layerseed-test-registry'
export const REPO = 'library/app'
/** Users of the token server: who may do what. */
export const PASSWORDS = { pusher: 'pusher-pw-31f2', reader: 'reader-pw-9a7c', robot: 'robot-pw-5be1', node: 'node-pw-c40d' } as const

const everything = () => ['push', 'pull']
const pullOnly = () => ['pull']

/** A registry with `auth: token`, its token server, and one image pushed to REPO (and to `library/secret`, which `node` may not read). */
export interface AuthFixture {
  readonly root: string
  readonly keys: TokenKeys
  readonly tokens: TokenServer
  readonly registry: Registry
  readonly image: OciImage
  /** The token auth options every sidecar and agent here gets. */
  readonly authFlags: readonly string[]
  /** A token as reader would get it: pull on REPO, unless `access` says otherwise. */
  readerToken(access?: unknown): Promise<string>
  writeFile(name: string, content: string): Promise<string>
  /** A sidecar config read from flags, as `layerseed sidecar` reads them: loopback, free ports, data under the fixture. */
  sidecarConfig(name: string, flags: readonly string[]): SidecarConfig
  agentConfig(name: string, flags: readonly string[]): AgentConfig
  close(): Promise<void>
}

export async function startAuthFixture(name: string, layerSizes: number[]): Promise<AuthFixture> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), `layerseed-${name}-`))
  let tokens: TokenServer | undefined
  let registry: Registry | undefined
  try {
    const keys = await makeTokenKeys(path.join(root, 'keys'))
    tokens = await startTokenServer({
      keys,
      issuer: ISSUER,
      service: SERVICE,
      users: {
        pusher: { password: PASSWORDS.pusher, may: everything },
        reader: { password: PASSWORDS.reader, may: (repo) => (repo === REPO ? ['pull'] : []) },
        robot: { password: PASSWORDS.robot, may: pullOnly },
        node: { password: PASSWORDS.node, may: (repo) => (repo === REPO ? ['pull'] : []) },
      },
    })
    registry = await startRegistry({ dir: path.join(root, 'registry'), auth: { token: { realm: tokens.realm, service: SERVICE, issuer: ISSUER, rootCertBundle: keys.bundlePath } } })
    const image = await makeOciImage(path.join(root, 'image'), { layerSizes })
    for (const repo of [REPO, 'library/secret']) await skopeoPush(image, registry.host, `${repo}:1.0`, { creds: `pusher:${PASSWORDS.pusher}`, workDir: path.join(root, `push-${repo.replace('/', '-')}`) })
    const t = tokens
    const r = registry
    return {
      root,
      keys,
      tokens: t,
      registry: r,
      image,
      authFlags: ['--auth-realm', t.realm, '--auth-issuer', ISSUER, '--auth-service', SERVICE, '--auth-root-certs', keys.bundlePath],
      readerToken: (access = [{ type: 'repository', name: REPO, actions: ['pull'] }]) => t.mint({ sub: 'reader', access }),
      async writeFile(file, content) {
        const p = path.join(root, file)
        await fs.writeFile(p, content, { mode: 0o600 })
        return p
      },
      sidecarConfig: (n, flags) =>
        loadSidecarConfig(['--data-dir', path.join(root, n), '--listen', '127.0.0.1:0', '--peer-port', '0', ...flags]).config!,
      agentConfig: (n, flags) =>
        loadAgentConfig(['--data-dir', path.join(root, n), '--listen', '127.0.0.1:0', '--peer-port', '0', '--p2p-stall-timeout', '5s', ...flags]).config!,
      async close() {
        await r.stop().catch(() => undefined)
        await t.close().catch(() => undefined)
        await fs.rm(root, { recursive: true, force: true })
      },
    }
  } catch (err) {
    await registry?.stop().catch(() => undefined)
    await tokens?.close().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
    throw err
  }
}
