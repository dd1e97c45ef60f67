// The drop-in `layerseed configure podman` writes, used by real skopeo: a
// pull from Debian's docker-registry must go through a real agent.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startRegistry, type Registry } from '../demo/registry.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { run } from '../demo/process.js'
import { skopeoPush } from '../demo/skopeo.js'
import type { SourceBytes } from '../plugin/puller.js'
import type { RunningAgent } from '../plugin/run.js'
import { Parts } from './helpers/parts.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')

async function bytesThrough(agent: RunningAgent): Promise<number> {
  const res = await fetch(`${agent.url}/v1/stats`)
  const { bytesBySource } = (await res.json()) as { bytesBySource: SourceBytes }
  return Object.values(bytesBySource).reduce((a, b) => a + b, 0)
}

describe('a configured podman/skopeo node pulls through the agent', () => {
  let root: string
  let registry: Registry | undefined
  let image: OciImage
  const parts = new Parts(() => registry?.url ?? '')

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-configure-pull-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [2 << 20, 512 << 10] })
    await skopeoPush(image, registry.host, 'library/app:1.0')
  })

  after(async () => {
    await parts.close()
    await registry?.stop()
    await fs.rm(root, { recursive: true, force: true })
  })

  it('reads the drop-in and fetches every blob from the agent', async () => {
    assert.ok(registry)
    const sidecar = await parts.sidecar(path.join(root, 'sidecar'))
    const agent = await parts.agent(path.join(root, 'agent'), [sidecar.url])
    const nodeRoot = path.join(root, 'node')
    const r = spawnSync(process.execPath, [BIN, 'configure', 'podman', '--registry', `http://${registry.host}`, '--agent', agent.url, '--root', nodeRoot], { encoding: 'utf8', timeout: 20_000 })
    assert.equal(r.status, 0, r.stderr)

    // skopeo 1.x has no variable for the system drop-in directory when
    // --registries-conf is given, but it reads $HOME/.config/containers/registries.conf.d
    // too: the directory configure wrote is copied there (a symlink to it is
    // not followed when skopeo walks the directory).
    const home = path.join(root, 'home')
    await fs.cp(path.join(nodeRoot, 'etc/containers/registries.conf.d'), path.join(home, '.config/containers/registries.conf.d'), { recursive: true })
    const conf = path.join(home, 'registries.conf')
    await fs.writeFile(conf, '')
    await fs.writeFile(path.join(home, 'auth.json'), '{}')
    const env = { ...process.env, HOME: home, REGISTRY_AUTH_FILE: path.join(home, 'auth.json'), CONTAINERS_REGISTRIES_CONF: conf }
    const dest = path.join(root, 'pulled')
    // No --src-tls-verify=false: the drop-in's `insecure = true` is what lets skopeo talk plain HTTP.
    await run('skopeo', ['--registries-conf', conf, 'copy', `docker://${registry.host}/library/app:1.0`, `dir:${dest}`], { env, timeoutMs: 120_000 })

    for (const b of image.blobs()) {
      const got = await fs.stat(path.join(dest, b.digest.slice(7)))
      assert.equal(got.size, b.size, `${b.digest} pulled whole`)
    }
    const total = image.blobs().reduce((a, b) => a + b.size, 0)
    assert.equal(await bytesThrough(agent), total, 'every blob byte went through the agent')
  })
})
