// A client of `facecast serve` (bridge/PROTOCOL.md, version 1) for Unity.
//
// NetMQ runs on a background thread: it sends what the main thread queued and decodes what arrives.
// Decoded messages are handed to the main thread through a queue drained in Update(), so every event
// (FrameReceived, Opened, Ended, ErrorReceived) fires on Unity's main thread.
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

        /// <summary>Fires on the main thread for every motion frame (speech and idle).</summary>
        public event Action<MotionFrame> FrameReceived;
        /// <summary>Fires on the main thread for every rendered frame of a texture session.</summary>
        public event Action<TextureFrame> TextureReceived;
        /// <summary>Fires when the server confirms a session: (session id, fps).</summary>
        public event Action<int, float> Opened;
        /// <summary>Fires when an utterance is complete: (session, utterance, frames).</summary>
        public event Action<int, int, int> Ended;
        /// <summary>Fires for every error message: (code, message).</summary>
        public event Action<string, string> ErrorReceived;

        public bool Connected { get; private set; }

        static readonly MessagePackSerializerOptions Options = ContractlessStandardResolver.Options;

        readonly ConcurrentQueue<byte[]> _outgoing = new ConcurrentQueue<byte[]>();
        readonly ConcurrentQueue<Dictionary<object, object>> _incoming = new ConcurrentQueue<Dictionary<object, object>>();
        Thread _thread;
        volatile bool _running;

        void OnEnable()
        {
            _running = true;
            _thread = new Thread(Run) { IsBackground = true, Name = "facecast-netmq" };
            _thread.Start();
            Send(new Dictionary<string, object> { ["type"] = "hello", ["protocol"] = 1, ["client"] = "unity" });
        }

        void OnDisable()
        {
            _running = false;
            _thread?.Join(1000);
            _thread = null;
            Connected = false;
        }

        void OnApplicationQuit()
        {
            NetMQConfig.Cleanup(false);
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
        public void Ping() => Send(new Dictionary<string, object> { ["type"] = "ping" });

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

        // Background thread: the only place the socket is touched (NetMQ sockets are not thread-safe).
        void Run()
        {
            AsyncIO.ForceDotNet.Force();
            using (var socket = new DealerSocket())
            {
                socket.Options.Linger = TimeSpan.Zero;
                socket.Connect(endpoint);
                var lastSent = DateTime.UtcNow;
                while (_running)
                {
                    while (_outgoing.TryDequeue(out var payload))
                    {
                        socket.SendFrame(payload);
                        lastSent = DateTime.UtcNow;
                    }
                    if ((DateTime.UtcNow - lastSent).TotalSeconds > 5)
                    {
                        // The server drops clients silent for 30 s; an idle listener pings.
                        socket.SendFrame(MessagePackSerializer.Serialize(
                            new Dictionary<string, object> { ["type"] = "ping" }, Options));
                        lastSent = DateTime.UtcNow;
                    }
                    if (socket.TryReceiveFrameBytes(TimeSpan.FromMilliseconds(2), out var bytes))
                    {
                        var message = MessagePackSerializer.Deserialize<Dictionary<object, object>>(bytes, Options);
                        _incoming.Enqueue(message);
                    }
                }
            }
        }

        void Update()
        {
            while (_incoming.TryDequeue(out var message))
            {
                Dispatch(message);
            }
        }

        void Dispatch(Dictionary<object, object> m)
        {
            switch ((string)m["type"])
            {
                case "welcome":
                    Connected = true;
                    break;
                case "opened":
                    Opened?.Invoke(ToInt(m["session"]), (float)Convert.ToDouble(m["fps"]));
                    break;
                case "motion":
                    var frames = (byte[])m["frames"];
                    var positions = (object[])m["sample_pos"];
                    int utterance = ToInt(m["utterance"]);
                    int count = ToInt(m["count"]);
                    for (int i = 0; i < count; i++)
                    {
                        FrameReceived?.Invoke(MotionFrame.Decode(frames, i, Convert.ToInt64(positions[i]), utterance));
                    }
                    break;
                case "texture":
                    TextureReceived?.Invoke(new TextureFrame
                    {
                        Session = ToInt(m["session"]), Index = ToInt(m["index"]),
                        SamplePosition = Convert.ToInt64(m["sample_pos"]), Width = ToInt(m["width"]),
                        Height = ToInt(m["height"]), Encoding = (string)m["encoding"], Data = (byte[])m["data"],
                    });
                    break;
                case "ended":
                    Ended?.Invoke(ToInt(m["session"]), ToInt(m["utterance"]), ToInt(m["frames"]));
                    break;
                case "error":
                    var code = (string)m["code"];
                    var text = (string)m["message"];
                    Debug.LogWarning($"facecast: {code}: {text}");
                    ErrorReceived?.Invoke(code, text);
                    break;
            }
        }

        // msgpack integers arrive as the smallest fitting .NET type (byte, ushort, ...).
        static int ToInt(object value) => Convert.ToInt32(value);
    }

    /// <summary>One rendered frame of a texture session.</summary>
    public sealed class TextureFrame
    {
        public int Session;
        public int Index;
        public long SamplePosition;  // -1 for idle frames
        public int Width;
        public int Height;
        public string Encoding;      // "jpeg", "png", "rgb8" or "rgba8"
        public byte[] Data;
    }
}
