// Metrics are part of each process's contract: every layerseed_* name a
// running sidecar or agent exposes is in docs/metrics.md, and the doc lists
// nothing they do not expose.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { RunningAgent } from '../plugin/run.js'
import type { RunningSidecar } from '../sidecar/run.js'
import { Parts } from './helpers/parts.js'

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/metrics.md')

/** Names from `# TYPE` lines: prom-client writes one for every registered metric, with or without samples. */
async function exposed(url: string): Promise<{ names: Set<string>; contentType: string; text: string }> {
  const res = await fetch(`${url}/metrics`)
  assert.equal(res.status, 200)
  const text = await res.text()
  const names = new Set([...text.matchAll(/^# TYPE (layerseed_\w+) /gm)].map((m) => m[1]))
  return { names, contentType: res.headers.get('content-type') ?? '', text }
}

describe('metrics and docs/metrics.md', () => {
  let root: string
  const parts = new Parts(() => 'http://127.0.0.1:9')
  let sidecar: RunningSidecar
  let agent: RunningAgent

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-metrics-doc-'))
    sidecar = await parts.sidecar(path.join(root, 'sidecar'))
    agent = await parts.agent(path.join(root, 'agent'), [sidecar.url])
  })

  after(async () => {
    await parts.close()
    await fs.rm(root, { recursive: true, force: true })
  })

  it('documents every layerseed_* metric a sidecar and an agent expose, and no other', async () => {
    const doc = await fs.readFile(DOC, 'utf8')
    const documented = new Set([...doc.matchAll(/^\| `(layerseed_\w+)` \|/gm)].map((m) => m[1]))
    const s = await exposed(sidecar.url)
    const a = await exposed(agent.url)
    const all = new Set([...s.names, ...a.names])
    assert.ok(all.size >= 19, `expected at least 19 layerseed metrics, saw ${all.size}`)
    assert.deepEqual([...all].filter((n) => !documented.has(n)).sort(), [], 'exposed but not in docs/metrics.md')
    assert.deepEqual([...documented].filter((n) => !all.has(n)).sort(), [], 'in docs/metrics.md but exposed by neither')
  })

  it('serves the Prometheus text format with the default process and Node.js metrics beside them', async () => {
    for (const url of [sidecar.url, agent.url]) {
      const m = await exposed(url)
      assert.match(m.contentType, /^text\/plain;.*version=0\.0\.4/)
      assert.match(m.text, /^process_cpu_seconds_total \d/m)
      assert.match(m.text, /^nodejs_heap_size_used_bytes \d/m)
    }
    // Each process has its own registry: the agent's parts are not in the sidecar's scrape, nor the other way round.
    assert.ok(!(await exposed(sidecar.url)).names.has('layerseed_agent_blob_bytes_total'))
    assert.ok(!(await exposed(agent.url)).names.has('layerseed_sidecar_origin_bytes_total'))
  })
})
