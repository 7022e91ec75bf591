// Which of the messages taken off the queue in one Update are handed on: all of them, in order, except
// that of a texture session's textures only the newest is. Textures are latest-wins (bridge/PROTOCOL.md):
// after a stall of the main thread (a scene load, the editor) a burst of stale frames would each be
// decoded and uploaded in one Update, a second stall, to show only the last of them.
// Plain C#, so tests/unity/NewestTexturesSpec.cs runs it outside Unity.
using System.Collections.Generic;

namespace Facecast
{
    public sealed class NewestTextures<T>
    {
        readonly Dictionary<int, T> _newest = new Dictionary<int, T>();
        readonly List<int> _sessions = new List<int>();  // in the order their first texture came

        readonly List<T> _ready = new List<T>();  // reused: one list, not one per message

        /// <summary>Take the next message of the queue; returns what to hand on now, in order (a list this
        /// object reuses: read it before the next call). A texture waits, replacing an older one of its
        /// session; any other message of a session hands its waiting texture on first, so each session's
        /// events keep their order (a texture, then `closed`).</summary>
        public List<T> Take(T message, bool isTexture, int? session)
        {
            _ready.Clear();
            if (isTexture && session.HasValue)
            {
                if (!_newest.ContainsKey(session.Value)) _sessions.Add(session.Value);
                _newest[session.Value] = message;
                return _ready;
            }
            T texture;
            if (session.HasValue && _newest.TryGetValue(session.Value, out texture))
            {
                _newest.Remove(session.Value);
                _sessions.Remove(session.Value);
                _ready.Add(texture);
            }
            _ready.Add(message);
            return _ready;
        }

        /// <summary>The queue is drained: the textures still waiting, one per session.</summary>
        public List<T> Flush()
        {
            var textures = new List<T>();
            foreach (int session in _sessions) textures.Add(_newest[session]);
            _newest.Clear();
            _sessions.Clear();
            return textures;
        }
    }
}
