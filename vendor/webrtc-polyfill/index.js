'use strict'
// layerseed runs peers over TCP only; WebRTC classes are deliberately absent.
module.exports = {
  RTCPeerConnection: undefined,
  RTCSessionDescription: undefined,
  RTCIceCandidate: undefined
}
