// The handshake of heartbeat and resume (its wire format is in src/envelope.ts and the README): on every
// connection the client sends its hello first and the server answers with its own before anything else,
// or closes. Until then every control frame goes to the handshake, so nothing (not even a ping) is
// answered before the hello. What a server does with a hello (a heartbeat transport, a new or a resumed
// session) is its policy, in src/server.ts.
import { F_RESUME, PROTOCOL_VERSION, T_HELLO, decodeHello, encodeHello, type Hello } from './envelope';
import { ErrorCodes, ipcError } from './errors';
import { ENV_PLAIN, ENV_SEQ, type Transport, kLink } from './transport';

/** How long a client of a heartbeat or resume server has to send its hello. */
export const HANDSHAKE_TIMEOUT = 10_000;

/** A frame that came behind the server's hello, before a session took the connection. */
export type Early = { frame: Buffer; seq: number } | { type: number; body: Buffer | null };
const early = new WeakMap<Transport, Early[]>();

/** @internal The frames that came behind the server's hello on `t`, for the session taking it (once). */
export function takeEarly(t: Transport): Early[] | undefined {
  const held = early.get(t);
  early.delete(t);
  return held;
}

/**
 * Client side: turns the envelope on, sends our hello and waits for the server's. Resolves with it;
 * rejects ERR_IPC_HANDSHAKE (and destroys `t`) when the server answers anything else, closes, or says
 * nothing within `timeout` ms: it is not listening with heartbeat or resume. `forSession`: the
 * connection goes to a Session (its attach() takes the frames that came behind the hello).
 */
export function clientHandshake(t: Transport, hello: Hello, timeout: number, forSession = false, unref = false): Promise<Hello> {
  const hex = t.framing === 'lines';
  return new Promise<Hello>((resolve, reject) => {
    let done = false;
    // A reset during the handshake is its failure, reported through the rejection: nobody else listens yet.
    let cause: Error | undefined;
    const onError = (err: Error): void => {
      cause ??= err;
    };
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      t.off('close', onClose);
      const err = ipcError(ErrorCodes.HANDSHAKE, `${t.endpoint}: ${why}`, { address: t.endpoint, ...(cause === undefined ? {} : { cause }) });
      t.destroy();
      reject(err);
    };
    const onClose = (): void => fail('the server closed the connection during the handshake; is it listening with heartbeat: true or resume: true?');
    const timer = setTimeout(
      () => fail(`no handshake answer within ${timeout} ms; is the server listening with heartbeat: true or resume: true?`),
      timeout,
    );
    if (unref) {
      timer.unref();
      t.unref();
    }
    t[kLink].envelope(ENV_PLAIN);
    t[kLink].sink({
      handshaking: true,
      frame: () => fail('the server sent data before its handshake answer'),
      control: (type, body) => {
        if (done) return;
        const peer = type === T_HELLO ? decodeHello(body) : null;
        if (peer === null) return fail('the server answered the handshake with something else');
        if (peer.version !== PROTOCOL_VERSION) return fail(`the server speaks envelope version ${peer.version}; this end speaks version ${PROTOCOL_VERSION} (give both ends the same version of symphony-ipc-transport)`);
        if ((hello.flags & F_RESUME) !== 0 && (peer.flags & F_RESUME) === 0) return fail('the server does not resume sessions (listen with resume: true)');
        done = true;
        clearTimeout(timer);
        t.off('close', onClose);
        t.off('error', onError);
        if (forSession) {
          // The server may send right behind its hello, in the same read, and the session takes the
          // connection only when this promise settles: keep what comes until then, in order.
          const held: Early[] = [];
          early.set(t, held);
          t[kLink].sink({
            frame: (frame, seq) => held.push({ frame: Buffer.from(frame), seq }),
            control: (type, body) => held.push({ type, body: body === null ? null : Buffer.from(body) }),
          });
        } else t[kLink].sink(null);
        if ((peer.flags & F_RESUME) !== 0) t[kLink].envelope(ENV_SEQ);
        resolve(peer);
      },
    });
    t.once('close', onClose);
    t.on('error', onError);
    t[kLink].sendControl(encodeHello(hello, hex));
  });
}

/**
 * Server side: turns the envelope on and waits for the client's hello, at most HANDSHAKE_TIMEOUT. A
 * valid one goes to `onHello`, inside the read that brought it (frames behind it in that read then go
 * wherever `onHello` sends the stream); anything else goes to `refuse` with the reason, and `t` is
 * destroyed. Until the hello, an 'error' of `t` is nobody's: it is swallowed, and the close refuses.
 */
export function acceptHandshake(t: Transport, refuse: (why: string) => void, onHello: (hello: Hello) => void): void {
  t[kLink].envelope(ENV_PLAIN);
  const ignore = (): void => {};
  t.on('error', ignore);
  let done = false;
  const fail = (why: string): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    refuse(why);
    t.destroy();
  };
  const timer = setTimeout(() => fail(`no handshake within ${HANDSHAKE_TIMEOUT} ms (the client must connect with heartbeat: true or resume: true)`), HANDSHAKE_TIMEOUT);
  t.once('close', () => clearTimeout(timer));
  t[kLink].sink({
    handshaking: true,
    frame: () => fail('the client sent data before its handshake (it must connect with heartbeat: true or resume: true)'),
    control: (type, body) => {
      const hello = type === T_HELLO ? decodeHello(body) : null;
      if (hello === null) return fail('the first frame was not a handshake');
      if (hello.version !== PROTOCOL_VERSION) return fail(`the client speaks envelope version ${hello.version}; this end speaks version ${PROTOCOL_VERSION} (give both ends the same version of symphony-ipc-transport)`);
      done = true;
      clearTimeout(timer);
      t.off('error', ignore);
      t[kLink].sink(null);
      onHello(hello);
    },
  });
}

/** Server side: the answer to a client's hello; with `resume`, data frames carry sequence numbers from now on. */
export function answerHello(t: Transport, hello: Hello, resume: boolean): void {
  if (resume) t[kLink].envelope(ENV_SEQ);
  t[kLink].sendControl(encodeHello(hello, t.framing === 'lines'));
}
