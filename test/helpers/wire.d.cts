// Types of ./wire.cjs for the .ts tests (the logic lives in wire.cjs only).
type Payload = Buffer | Uint8Array | string;
type Framing = 'length-prefixed' | 'lines' | 'content-length';

export function lpHeader(length: number): Buffer;
export function lp(...payloads: Payload[]): Buffer;
export function splitLengthPrefixed(bytes: Buffer): Buffer[];
export function parseLengthPrefixed(bytes: Buffer): Buffer[];
export function readLengthPrefixed(onFrame: (payload: Buffer) => void): (chunk: Buffer) => void;
export function line(...payloads: Payload[]): Buffer;
export function splitLines(bytes: Buffer): Buffer[];
export function readLines(onLine: (line: Buffer) => void): (chunk: Buffer) => void;
export function cl(...payloads: Payload[]): Buffer;
export function splitContentLength(bytes: Buffer): Buffer[];
export function encode(framing: Framing, ...payloads: Payload[]): Buffer;
export function split(framing: Framing, bytes: Buffer): Buffer[];
