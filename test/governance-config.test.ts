import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { agentLiveFields, cacheLimitsOf, loadAgentConfig, loadSidecarConfig, parseRate, parseWatermark, sidecarLiveFields } from '../config/index.js'
import { agentOptions, sidecarOptions } from '../config/schema.js'
import { problemsOf } from './helpers/configs.js'

const agentArgs = ['--sidecar', 'http://s:7070', '--upstream', 'http://r:5000']

const keysOf = (fn: () => unknown) => problemsOf(fn).map((p) => p.key).sort()

describe('rates and watermarks', () => {
  it('reads rates in bytes or bits per second', () => {
    assert.equal(parseRate('100MB/s'), 100_000_000)
    assert.equal(parseRate('800Mbit'), 100_000_000)
    assert.equal(parseRate('1Gbit/s'), 125_000_000)
    assert.equal(parseRate('10MiB/s'), 10 * 1024 * 1024)
    assert.equal(parseRate(5_000_000), 5_000_000)
    assert.equal(parseRate(' 64 KB/s '), 64_000)
    for (const bad of ['0', 0, 'fast', '100Mbps', '-1MB/s', '', '1.5.2MB']) assert.throws(() => parseRate(bad), /want a rate/, String(bad))
  })

  it('reads watermarks as a share of the max or as a size', () => {
    assert.deepEqual(parseWatermark('85%'), { percent: 85 })
    assert.deepEqual(parseWatermark('40GiB'), { bytes: 40 * 1024 ** 3 })
    for (const bad of ['0%', '101%', 'most', '-5%']) assert.throws(() => parseWatermark(bad), /want a percentage/, bad)
  })
})

describe('cache and rate options', () => {
  it('have defaults: no max, 85 % and 70 %, a 1 GiB floor, a reap every minute, no rate limits', () => {
    const { config } = loadAgentConfig(agentArgs)
    assert.ok(config)
    assert.equal(config.cacheMaxBytes, undefined)
    assert.deepEqual(config.cacheHighWatermark, { percent: 85 })
    assert.deepEqual(config.cacheLowWatermark, { percent: 70 })
    assert.equal(config.minFreeDiskBytes, 1024 ** 3)
    assert.equal(config.reapSchedule, '* * * * *')
    assert.equal(config.downloadBytesPerSec, undefined)
    assert.equal(config.uploadBytesPerSec, undefined)
    assert.deepEqual(cacheLimitsOf(config), { maxBytes: undefined, highBytes: undefined, lowBytes: undefined, minFreeBytes: 1024 ** 3 })
  })

  it('turn watermarks into bytes of the max', () => {
    const { config } = loadAgentConfig([...agentArgs, '--cache-max-bytes', '100GB', '--cache-low-watermark', '50%', '--download-rate', '1Gbit/s', '--upload-rate', '50MB/s'])
    assert.ok(config)
    assert.deepEqual(cacheLimitsOf(config), { maxBytes: 100e9, highBytes: 85e9, lowBytes: 50e9, minFreeBytes: 1024 ** 3 })
    assert.equal(config.downloadBytesPerSec, 125_000_000)
    assert.equal(config.uploadBytesPerSec, 50_000_000)
    const side = loadSidecarConfig(['--origin', 'http://r:5000', '--origin-rate', '200Mbit', '--upload-rate', '1Gbit']).config
    assert.equal(side?.originBytesPerSec, 25_000_000)
    assert.equal(side?.uploadBytesPerSec, 125_000_000)
  })

  it('report every bad value at once, including ones that only conflict together', () => {
    assert.deepEqual(
      keysOf(() => loadAgentConfig([...agentArgs, '--cache-max-bytes', 'lots', '--reap-schedule', 'hourly', '--download-rate', '0', '--min-free-disk', '-1'])),
      ['--cache-max-bytes', '--download-rate', '--min-free-disk', '--reap-schedule'],
    )
    assert.deepEqual(keysOf(() => loadAgentConfig([...agentArgs, '--cache-max-bytes', '10GB', '--cache-low-watermark', '90%'])), ['--cache-low-watermark'])
    assert.deepEqual(keysOf(() => loadAgentConfig([...agentArgs, '--cache-max-bytes', '10GB', '--cache-high-watermark', '20GB'])), ['--cache-high-watermark'])
    assert.deepEqual(keysOf(() => loadAgentConfig([...agentArgs, '--origin-rate', '1MB/s'])), ['--origin-rate'])
  })

  it('name only real fields as live', () => {
    for (const [fields, specs] of [[sidecarLiveFields, sidecarOptions], [agentLiveFields, agentOptions]] as const) {
      for (const f of fields) assert.ok(specs.some((s) => s.field === f), `${String(f)} is an option`)
    }
  })
})
