// A client of `facecast serve` (bridge/PROTOCOL.md, version 1) for Unity.
//
// NetMQ runs on a background thread: it sends what the main thread queued and decodes what arrives.
// Decoded messages are handed to the main thread through a queue drained in Update(), so every event
// (FrameReceived, Opened, Ended, ErrorReceived, ...) fires on Unity's main thread.
//
// One client can carry several sessions (one per character): every event says which session it is about
// (MotionFrame.Session, TextureFrame.Session, the session argument), and OpenedWithRequest echoes the
// `request` given to Open, so each caller can tell its own session from the others'.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using MessagePack;
using MessagePack.Resolvers;
using NetMQ;
using NetMQ.Sockets;
using UnityEngine;

namespace Facecast
{
    public sealed class FacecastClient : MonoBehaviour
    {
        [Tooltip("Where `facecast serve` listens.")]
        public string endpoint = "tcp://127.0.0.1:5555";

        /// <summary>Fires on the main thread for every motion frame (speech and idle); frame.Session tells
        /// whose.</summary>
        public event Action<MotionFrame> FrameReceived;
        /// <summary>Fires on the main thread with a texture session's newest rendered frame: once per session per
        /// Update (twice if the session's `interrupted`, `closed` or an error came between two textures).
        /// Textures are latest-wins (PROTOCOL.md): after a stall of the main thread only the newest of those
        /// that arrived meanwhile is handed on, not a burst of stale ones to decode.</summary>
        public event Action<TextureFrame> TextureReceived;
        /// <summary>Fires when the server confirms a session: (session id, fps).</summary>
        public event Action<int, float> Opened;
        /// <summary>Fires with Opened, plus the `request` passed to Open (null if none): (session, fps,
        /// request). Several callers sharing this client match their session by it.</summary>
        public event Action<int, float, object> OpenedWithRequest;
        /// <summary>Fires when an utterance is complete: (session, utterance, frames).</summary>
        public event Action<int, int, int> Ended;
        /// <summary>Fires when the server has cut a session's speech off after Interrupt: (session).</summary>
        public event Action<int> Interrupted;
        /// <summary>Fires when the server has taken a SetControls: (session).</summary>
        public event Action<int> ControlsApplied;
        /// <summary>Fires when the server has closed a session after Close: (session).</summary>
        public event Action<int> Closed;
        /// <summary>Fires for every pong: (the `t` given to Ping, server monotonic clock in ns).</summary>
        public event Action<object, long> PongReceived;
        /// <summary>Fires for every error message: (code, message).</summary>
        public event Action<string, string> ErrorReceived;
        /// <summary>Fires with ErrorReceived, plus the session the error concerns (-1 if none): (session,
        /// code, message).</summary>
        public event Action<int, string, string> ErrorReceivedWithSession;
        /// <summary>Fires with ErrorReceived for an error that answers a message sent with a `request` (an
        /// Open the server refused: an unknown avatar, textures it cannot render): (request, code, message).
        /// A caller of Open tells its own failure by the request it gave.</summary>
        public event Action<object, string, string> RequestFailed;
        /// <summary>Fires when Connected changes. After a loss the server has forgotten this client's
        /// sessions, so open them again once it is true again.</summary>
        public event Action<bool> ConnectionChanged;

        /// <summary>True from the server's welcome until nothing (not even a heartbeat) has arrived for
        /// SilenceLimitS, the server answers hello_first, or the component is disabled.</summary>
        public bool Connected { get; private set; }

        /// <summary>Seconds without a message (pongs aside) after which the link is taken for lost (server
        /// stopped, restarted, network down). The server sends a heartbeat to a client that has received
        /// nothing for 2 s, so this is four missed. Messages are stamped as the main thread takes them, so a
        /// long frame or an editor stall does not read as silence. It was the server's client timeout (30 s):
        /// for that long a sender kept streaming into a lost link.</summary>
        public const float SilenceLimitS = 8f;
        // While not connected, hello is said again this often: a restarted server does not know this
        // client and would answer anything else with hello_first.
        const float HelloRetryS = 5f;
        // Not connected for this long (no server at the endpoint, or one that refuses this client's CURVE
        // key) is said once in the console, which otherwise stays quiet while hellos go unanswered.
        const float NoAnswerS = 10f;

        static readonly MessagePackSerializerOptions Options = ContractlessStandardResolver.Options;

        readonly ConcurrentQueue<byte[]> _outgoing = new ConcurrentQueue<byte[]>();
        // What the thread received, for Update to hand on, in order; of a texture session's textures only the
        // newest waits (in _newestTextures), so a main thread stalled by a scene load holds one texture per
        // session, not every texture of the stall (at 1024 px rgba8, 30 fps: 120 MB a second). Both under
        // _received's lock, which Update takes once a frame.
        readonly List<Dictionary<object, object>> _received = new List<Dictionary<object, object>>();
        readonly List<Dictionary<object, object>> _handOn = new List<Dictionary<object, object>>();  // Update's, reused
        readonly ConcurrentQueue<string> _problems = new ConcurrentQueue<string>();  // from the thread, to log
        // While not connected, a thread that ended on an error (an endpoint NetMQ cannot parse) is started
        // again this often: a fixed endpoint (set in the Inspector) then connects.
        const float RestartS = 5f;
        // NetMQ's context is the process's: cleaned up at quit once every client's thread has stopped.
        static int s_threads;

        Thread _thread;
        float _threadStarted;
        volatile bool _running;
        float _lastReceived;   // Time.realtimeSinceStartup of the last message handed on
        float _lastHello;
        float _disconnectedSince;  // when Connected last turned false, or the component was enabled
        bool _toldNoAnswer;
        readonly NewestTextures<Dictionary<object, object>> _newestTextures = new NewestTextures<Dictionary<object, object>>();

        void OnEnable()
        {
            // Whatever was queued for a previous connection would reach the new one before its hello.
            while (_outgoing.TryDequeue(out _)) { }
            _running = true;
            _disconnectedSince = Time.realtimeSinceStartup;
            _toldNoAnswer = false;
            StartThread();
            s_threads++;
            SendHello();
        }

        void StartThread()
        {
            _threadStarted = Time.realtimeSinceStartup;
            _thread = new Thread(Run) { IsBackground = true, Name = "facecast-netmq" };
            _thread.Start();
        }

        void OnDisable()
        {
            if (_thread == null) return;
            _running = false;
            _thread.Join(1000);
            _thread = null;
            s_threads--;
            SetConnected(false);
        }

        void OnApplicationQuit()
        {
            // Unity calls this before OnDisable: this client's thread stops first, and NetMQ is torn down
            // only after the last client's, not under another client's socket.
            OnDisable();
            if (s_threads == 0) NetMQConfig.Cleanup(false);
        }

        /// <summary>Open a session. Mode: "motion", "texture" or "both"; textures: size, encoding ("jpeg",
        /// "png", "rgb8", "rgba8") and avatar. Controls: emotion ("happy:0.6"), gaze ("camera"), seed...
        /// lookaheadMs: one of the welcome's capabilities.lookaheads_ms; 0 takes the server's least (lowest
        /// latency).</summary>
        public void Open(float fps = 60f, int sampleRate = 48000, int channels = 1, bool idle = true,
                         Dictionary<string, object> controls = null, object request = null, string mode = "motion",
                         int size = 512, string encoding = "jpeg", string avatar = "default", int lookaheadMs = 0)
        {
            var open = new Dictionary<string, object>
            {
                ["type"] = "open", ["mode"] = mode, ["fps"] = (double)fps, ["sample_rate"] = sampleRate,
                ["sample_format"] = "pcm16", ["channels"] = channels, ["idle"] = idle,
                ["controls"] = controls ?? new Dictionary<string, object>(), ["request"] = request,
                ["size"] = size, ["encoding"] = encoding, ["avatar"] = avatar,
            };
            if (lookaheadMs > 0) open["lookahead_ms"] = lookaheadMs;
            Send(open);
        }

        /// <summary>Send interleaved float samples in [-1, 1] as pcm16.</summary>
        public void SendAudio(int session, float[] samples, int count)
        {
            var data = new byte[count * 2];
            for (int i = 0; i < count; i++)
            {
                short s = (short)Mathf.Clamp(Mathf.RoundToInt(samples[i] * 32767f), -32768, 32767);
                data[2 * i] = (byte)(s & 0xff);
                data[2 * i + 1] = (byte)((s >> 8) & 0xff);
            }
            Send(new Dictionary<string, object> { ["type"] = "audio", ["session"] = session, ["data"] = data });
        }

        public void EndUtterance(int session) => SendSimple("end", session);
        public void Interrupt(int session) => SendSimple("interrupt", session);
        public void Close(int session) => SendSimple("close", session);
        /// <summary>Ask for a pong (PongReceived echoes <paramref name="t"/>). The client pings on its own
        /// when idle; call this to measure the round trip.</summary>
        public void Ping(object t = null) => Send(new Dictionary<string, object> { ["type"] = "ping", ["t"] = t });

        public void SetControls(int session, Dictionary<string, object> controls)
        {
            Send(new Dictionary<string, object> { ["type"] = "controls", ["session"] = session, ["controls"] = controls });
        }

        void SendSimple(string type, int session)
        {
            Send(new Dictionary<string, object> { ["type"] = type, ["session"] = session });
        }

        void Send(Dictionary<string, object> message)
        {
            _outgoing.Enqueue(MessagePackSerializer.Serialize(message, Options));
        }

        void SendHello()
        {
            _lastHello = Time.realtimeSinceStartup;
            Send(new Dictionary<string, object> { ["type"] = "hello", ["protocol"] = 1, ["client"] = "unity" });
        }

        void SetConnected(bool connected)
        {
            if (Connected == connected) return;
            // What waits to go over a lost link is stale: the server has dropped its sessions.
            if (!connected) while (_outgoing.TryDequeue(out _)) { }
            if (!connected) _disconnectedSince = Time.realtimeSinceStartup;
            _toldNoAnswer = false;
            Connected = connected;
            ConnectionChanged?.Invoke(connected);
        }

        // Background thread: the only place the socket is touched (NetMQ sockets are not thread-safe). What
        // goes wrong on it (an endpoint NetMQ cannot parse, a message that does not decode) is handed to
        // the main thread to log: an exception would otherwise end the thread unseen.
        void Run()
        {
            try
            {
                Pump();
            }
            catch (Exception e)
            {
                if (_running) _problems.Enqueue($"the connection to {endpoint} stopped: {e.GetType().Name}: {e.Message}");
            }
        }

        void Pump()
        {
            AsyncIO.ForceDotNet.Force();
            using (var socket = new DealerSocket())
            {
                socket.Options.Linger = TimeSpan.Zero;
                socket.Connect(endpoint);
                var lastSent = DateTime.UtcNow;
                byte[] pending = null;  // a message the link had no room for: sent first, next turn
                while (_running)
                {
                    // Never a blocking send: with the server gone its queue fills (1000 messages), and a
                    // blocking send would stop this thread (receiving too, and OnDisable would wait on it) until
                    // the server came back.
                    while (pending != null || _outgoing.TryDequeue(out pending))
                    {
                        if (!socket.TrySendFrame(pending)) break;
                        pending = null;
                        lastSent = DateTime.UtcNow;
                    }
                    if (pending == null && (DateTime.UtcNow - lastSent).TotalSeconds > 5)
                    {
                        // The server drops clients that send nothing for 30 s (limits.client_timeout_s),
                        // sessions included; a client that only listens pings.
                        if (socket.TrySendFrame(MessagePackSerializer.Serialize(
                                new Dictionary<string, object> { ["type"] = "ping" }, Options)))
                            lastSent = DateTime.UtcNow;
                    }
                    if (socket.TryReceiveFrameBytes(TimeSpan.FromMilliseconds(2), out var bytes))
                    {
                        try
                        {
                            var message = MessagePackSerializer.Deserialize<Dictionary<object, object>>(bytes, Options);
                            message.TryGetValue("type", out var type);
                            int? session = message.TryGetValue("session", out var id) && id != null ? ToInt(id) : (int?)null;
                            lock (_received)
                                _received.AddRange(_newestTextures.Take(message, type as string, session));
                        }
                        catch (Exception e) when (e is MessagePackSerializationException || e is FormatException ||
                                                  e is InvalidCastException || e is OverflowException)
                        {
                            _problems.Enqueue($"a message from {endpoint} that does not decode was skipped: {e.Message}");
                        }
                    }
                }
            }
        }

        void Update()
        {
            float now = Time.realtimeSinceStartup;
            while (_problems.TryDequeue(out var problem)) Debug.LogError($"facecast: {problem}");
            if (_running && _thread != null && !_thread.IsAlive && now - _threadStarted > RestartS) StartThread();
            lock (_received)
            {
                _handOn.AddRange(_received);
                _received.Clear();
                _handOn.AddRange(_newestTextures.Flush());  // the textures waiting, after what came before
            }
            try
            {
                foreach (var message in _handOn)
                {
                    // Stamped when handed on, after any stall of the main thread, so a long frame does not read
                    // as silence. Not by a pong: a server answers pings from clients it does not know
                    // (restarted, or it dropped this one), while heartbeats and frames come only to clients it
                    // knows, so a link with nothing but pongs is a link to a server that forgot us.
                    if (!(message.TryGetValue("type", out var type) && type as string == "pong")) _lastReceived = now;
                    Dispatch(message);
                }
            }
            finally
            {
                _handOn.Clear();
            }
            if (Connected && now - _lastReceived > SilenceLimitS)
            {
                Debug.LogWarning($"facecast: nothing from {endpoint} for {SilenceLimitS} s; connection lost");
                SetConnected(false);
            }
            if (!Connected && now - _lastHello > HelloRetryS) SendHello();
            if (!Connected && !_toldNoAnswer && now - _disconnectedSince > NoAnswerS)
            {
                _toldNoAnswer = true;
                Debug.LogWarning($"facecast: no answer from {endpoint} for {NoAnswerS} s: is `facecast serve` running " +
                                 $"there (with this client's key, if it uses --curve)? Saying hello every {HelloRetryS} s");
            }
        }

        // A handler that throws costs its own event, not the messages handed on with it (a texture and its
        // session's `closed` come out of the queue together).
        void Dispatch(Dictionary<object, object> m)
        {
            try { Handle(m); }
            catch (Exception e) { Debug.LogException(e); }
        }

        void Handle(Dictionary<object, object> m)
        {
            switch ((string)m["type"])
            {
                case "welcome":
                    SetConnected(true);
                    break;
                case "opened":
                {
                    int session = ToInt(m["session"]);
                    float fps = (float)Convert.ToDouble(m["fps"]);
                    Opened?.Invoke(session, fps);
                    OpenedWithRequest?.Invoke(session, fps, m.TryGetValue("request", out var request) ? request : null);
                    break;
                }
                case "motion":
                {
                    var frames = (byte[])m["frames"];
                    var positions = (object[])m["sample_pos"];
                    int session = ToInt(m["session"]);
                    int utterance = ToInt(m["utterance"]);
                    int count = ToInt(m["count"]);
                    for (int i = 0; i < count; i++)
                    {
                        var frame = MotionFrame.Decode(frames, i, Convert.ToInt64(positions[i]), utterance);
                        frame.Session = session;
                        FrameReceived?.Invoke(frame);
                    }
                    break;
                }
                case "texture":
                    TextureReceived?.Invoke(new TextureFrame
                    {
                        Session = ToInt(m["session"]), Utterance = ToInt(m["utterance"]), Index = ToInt(m["index"]),
                        SamplePosition = Convert.ToInt64(m["sample_pos"]), Width = ToInt(m["width"]),
                        Height = ToInt(m["height"]), Encoding = (string)m["encoding"], Data = (byte[])m["data"],
                    });
                    break;
                case "ended":
                    Ended?.Invoke(ToInt(m["session"]), ToInt(m["utterance"]), ToInt(m["frames"]));
                    break;
                case "interrupted":
                    Interrupted?.Invoke(ToInt(m["session"]));
                    break;
                case "controls_ok":
                    ControlsApplied?.Invoke(ToInt(m["session"]));
                    break;
                case "closed":
                    Closed?.Invoke(ToInt(m["session"]));
                    break;
                case "pong":
                    PongReceived?.Invoke(m.TryGetValue("t", out var t) ? t : null,
                                         m.TryGetValue("server_ns", out var ns) && ns != null ? Convert.ToInt64(ns) : 0L);
                    break;
                case "heartbeat":
                    break;  // only keeps the link (and Connected) alive; stamped in Update
                case "error":
                {
                    var code = (string)m["code"];
                    var text = (string)m["message"];
                    // A restarted server answers every message the lost link still held (NetMQ keeps up to
                    // 1000 across a reconnect) with hello_first: one that comes while connected is told and
                    // said hello to; the rest, with the link already known lost, only fail their requests
                    // (an Open's), untold (Update says hello again).
                    bool stale = code == "hello_first" && !Connected;
                    int session = m.TryGetValue("session", out var s) && s != null ? ToInt(s) : -1;
                    if (!stale)
                    {
                        Debug.LogWarning(session >= 0 ? $"facecast: session {session}: {code}: {text}" : $"facecast: {code}: {text}");
                        ErrorReceived?.Invoke(code, text);
                        ErrorReceivedWithSession?.Invoke(session, code, text);
                    }
                    if (m.TryGetValue("request", out var request) && request != null) RequestFailed?.Invoke(request, code, text);
                    // The server does not know this client (it restarted, or dropped it after a silence):
                    // say hello again; its sessions are gone, which ConnectionChanged(false) tells.
                    if (code == "hello_first" && !stale)
                    {
                        SetConnected(false);
                        SendHello();
                    }
                    break;
                }
            }
        }

        // msgpack integers arrive as the smallest fitting .NET type (byte, ushort, ...).
        static int ToInt(object value) => Convert.ToInt32(value);
    }

    /// <summary>One rendered frame of a texture session.</summary>
    public sealed class TextureFrame
    {
        public int Session;
        public int Utterance;        // 0 for idle frames
        public int Index;
        public long SamplePosition;  // -1 for idle frames
        public int Width;
        public int Height;
        public string Encoding;      // "jpeg", "png", "rgb8" or "rgba8"
        public byte[] Data;
    }
}
