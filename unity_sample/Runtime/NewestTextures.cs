// Which of the messages received between two Updates are handed on: all of them, in order, except that of
// a texture session's textures only the newest is. Textures are latest-wins (bridge/PROTOCOL.md): after a
// stall of the main thread (a scene load, the editor) a burst of stale frames would each be decoded and
// uploaded in one Update, a second stall, to show only the last of them. FacecastClient's network thread
// takes each message as it comes, so that a stall holds one texture a session, and Update flushes.
// Plain C#, so tests/unity/NewestTexturesSpec.cs runs it outside Unity.
using System.Collections.Generic;

namespace Facecast
{
    public sealed class NewestTextures<T>
    {
        readonly Dictionary<int, T> _newest = new Dictionary<int, T>();
        readonly List<int> _sessions = new List<int>();  // in the order their first texture came
        readonly List<T> _ready = new List<T>();  // reused, as Update runs every frame: no garbage per call

        /// <summary>Take the next message of the queue, of type <paramref name="type"/> and about
        /// <paramref name="session"/> (null: the connection); returns what to hand on now, in order (a list
        /// this object reuses: read it before the next call).
        /// A texture waits, replacing an older one of its session. The stream beside it (`motion`, `ended`,
        /// `controls_ok`) and `pong` and `heartbeat` pass at once. Anything else ends or changes a session
        /// (`closed`, `interrupted`, an error) or the connection (`welcome`, an error without a session):
        /// the textures waiting for that session, or for every session, are handed on before it, so no old
        /// texture shows after it.</summary>
        public List<T> Take(T message, string type, int? session)
        {
            _ready.Clear();
            switch (type)
            {
                case "texture":
                    if (!session.HasValue) break;
                    if (!_newest.ContainsKey(session.Value)) _sessions.Add(session.Value);
                    _newest[session.Value] = message;
                    return _ready;
                case "motion": case "ended": case "controls_ok": case "pong": case "heartbeat":
                    break;
                default:
                    if (session.HasValue) HandOn(session.Value);
                    else foreach (int s in _sessions.ToArray()) HandOn(s);
                    break;
            }
            _ready.Add(message);
            return _ready;
        }

        /// <summary>The queue is drained: the textures still waiting, one per session (the same reused
        /// list as <see cref="Take"/> returns).</summary>
        public List<T> Flush()
        {
            _ready.Clear();
            foreach (int session in _sessions) _ready.Add(_newest[session]);
            _newest.Clear();
            _sessions.Clear();
            return _ready;
        }

        void HandOn(int session)
        {
            T texture;
            if (!_newest.TryGetValue(session, out texture)) return;
            _newest.Remove(session);
            _sessions.Remove(session);
            _ready.Add(texture);
        }
    }
}
