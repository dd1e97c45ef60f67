import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { BLOCK_LENGTH, BigPiece } from '../lib/swarm/webtorrent/big-piece.js'

describe('big piece', () => {
  it('assembles placed and copied blocks into one buffer, once', () => {
    const data = randomBytes(2 * BLOCK_LENGTH + 1000)
    const p = new BigPiece(data.length)
    assert.deepEqual([p.reserve(), p.reserve(), p.reserve(), p.reserve()], [0, 1, 2, -1])
    assert.equal(p.blockLength(2), 1000)
    // Block 1 is placed (written into its slot as it arrives); blocks 0 and 2 arrive as separate buffers.
    const slot = p.slot(BLOCK_LENGTH, BLOCK_LENGTH)!
    slot.set(data.subarray(BLOCK_LENGTH, 2 * BLOCK_LENGTH))
    assert.equal(p.set(1, slot), false)
    assert.equal(p.slot(BLOCK_LENGTH, BLOCK_LENGTH), undefined, 'a block already here takes no more data')
    assert.equal(p.slot(5, 10), undefined, 'a slot must start on a block')
    assert.equal(p.set(0, Buffer.from(data.subarray(0, BLOCK_LENGTH))), false)
    assert.equal(p.missing, 1000)
    assert.equal(p.set(2, Buffer.from(data.subarray(2 * BLOCK_LENGTH))), true)
    assert.deepEqual(p.flush(), data)
    assert.equal(p.flush(), undefined)
    assert.equal(p.reserve(), -1)
  })

  it('offers a cancelled block again', () => {
    const p = new BigPiece(BLOCK_LENGTH * 2)
    assert.equal(p.reserve(), 0)
    assert.equal(p.reserve(), 1)
    p.cancel(0)
    assert.equal(p.reserve(), 0)
    assert.equal(p.reserve(), -1)
  })
})
