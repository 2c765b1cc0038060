/**
 * What a stream session needs to know of the audio it sends. Its own file so that the parameter
 * checks (params.ts, standard-params.ts), the requests built from them and the service that opens
 * streams all depend on it one way, with no import cycle between them.
 */
export interface StreamFormat {
  sampleRate: number;
  mediaEncoding: string;
  /** Interleaved channels of the audio: 2 with channel identification, else 1. */
  channels: 1 | 2;
  channelIdentification: boolean;
}
