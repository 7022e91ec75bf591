// Drives a SkinnedMeshRenderer's blendshapes (and optionally head and eye bones) from facecast frames.
//
// Rigs name their shapes differently. Matching ignores case, separators and common prefixes, so one
// driver serves ARKit / Perfect Sync VRM ("EyeBlinkLeft"), Ready Player Me ("eyeBlinkLeft"), exports
// with a mesh prefix ("blendShape1.eyeBlinkLeft", "Face.M_F00_000_00_eyeBlinkLeft") and "_L"/"_R" styles
// ("eyeBlink_L"). Extra aliases can be added in the inspector.
//
// With a playback source, speech frames wait in a queue until their sample is heard. The queue holds
// frames in arrival order, which is utterance order; a line the source has left (it stopped, or started
// another clip) or the server cut off (`interrupted`) will never be heard further, so its frames are
// dropped, or the next line's frames (whose sample_pos starts again at 0) would wait behind them forever.
// Idle frames (between utterances) are held back while a line's frames are queued or its audio is
// playing: the server starts idling as soon as a line's last frame is out, about `playbackDelay` before
// that frame is heard.
using System;
using System.Collections.Generic;
using UnityEngine;

namespace Facecast
{
    public sealed class ArkitBlendshapeDriver : MonoBehaviour
    {
        [Serializable]
        public struct Alias
        {
            public string arkitName;  // e.g. "jawOpen"
            public string meshShape;  // the rig's name for it
        }

        public FacecastClient client;
        [Tooltip("When set, only the frames of this sender's session drive the face (needed when several characters share one client).")]
        public FacecastAudioSender sender;
        public SkinnedMeshRenderer face;
        [Tooltip("When set, frames are shown at the moment this source plays their audio sample. Leave empty for the microphone.")]
        public AudioSource playback;
        [Tooltip("Optional bones: rotated by the frame's head pose and gaze.")]
        public Transform head;
        public Transform leftEye;
        public Transform rightEye;
        [Range(0f, 2f)] public float weightScale = 1f;
        public List<Alias> aliases = new List<Alias>();

        int[] _shapeIndex;  // ARKit index -> mesh blendshape index, -1 if the rig lacks it
        readonly Queue<MotionFrame> _pending = new Queue<MotionFrame>();  // speech frames not heard yet
        MotionFrame _current;
        MotionFrame _idle;        // the newest idle frame, shown once no line is queued or playing
        int _session = -1;        // the session of the frames seen last
        int _newest;              // the newest utterance seen
        int _heardUtterance;      // the utterance of the last speech frame shown
        int _over;                // utterances up to this one will not be heard any more
        long _lastHeard = -1;     // playback.timeSamples at the last LateUpdate, -1 when not playing
        Quaternion _headRest, _leftRest, _rightRest;

        public int MappedCount { get; private set; }

        void Awake()
        {
            BuildMapping();
            if (head) _headRest = head.localRotation;
            if (leftEye) _leftRest = leftEye.localRotation;
            if (rightEye) _rightRest = rightEye.localRotation;
        }

        void OnEnable()
        {
            if (!client) return;
            client.FrameReceived += OnFrame;
            client.Interrupted += OnInterrupted;
            client.Closed += OnClosed;
        }

        void OnDisable()
        {
            if (!client) return;
            client.FrameReceived -= OnFrame;
            client.Interrupted -= OnInterrupted;
            client.Closed -= OnClosed;
        }

        /// <summary>Normalised form used for matching: lower case, letters and digits only, L/R spelled out.</summary>
        public static string Normalize(string name)
        {
            int dot = name.LastIndexOf('.');
            if (dot >= 0) name = name.Substring(dot + 1);
            var chars = new System.Text.StringBuilder();
            foreach (char c in name)
                if (char.IsLetterOrDigit(c)) chars.Append(char.ToLowerInvariant(c));
            string n = chars.ToString();
            if (n.EndsWith("l") && name.EndsWith("_L")) n = n.Substring(0, n.Length - 1) + "left";
            if (n.EndsWith("r") && name.EndsWith("_R")) n = n.Substring(0, n.Length - 1) + "right";
            return n;
        }

        public void BuildMapping()
        {
            _shapeIndex = new int[MotionLayout.ArkitNames.Length];
            MappedCount = 0;
            if (!face || !face.sharedMesh) return;
            var mesh = face.sharedMesh;
            var byName = new Dictionary<string, int>();
            for (int i = 0; i < mesh.blendShapeCount; i++)
            {
                string normalized = Normalize(mesh.GetBlendShapeName(i));
                // Prefixed exports ("m_f00_000_00_eyeblinkleft"): index every suffix that could be an ARKit name.
                foreach (var arkit in MotionLayout.ArkitNames)
                {
                    string key = arkit.ToLowerInvariant();
                    if (normalized == key || normalized.EndsWith(key)) byName[key] = i;
                }
            }
            foreach (var alias in aliases)
            {
                int i = mesh.GetBlendShapeIndex(alias.meshShape);
                if (i >= 0) byName[alias.arkitName.ToLowerInvariant()] = i;
            }
            for (int k = 0; k < MotionLayout.ArkitNames.Length; k++)
            {
                _shapeIndex[k] = byName.TryGetValue(MotionLayout.ArkitNames[k].ToLowerInvariant(), out int i) ? i : -1;
                if (_shapeIndex[k] >= 0) MappedCount++;
            }
            if (MappedCount == 0)
                Debug.LogWarning($"facecast: no ARKit blendshapes found on {face.name}; add aliases");
        }

        bool Mine(int session) => sender == null || session == sender.Session;

        void OnFrame(MotionFrame frame)
        {
            if (!Mine(frame.Session)) return;
            if (frame.Session != _session)
            {
                // A new session (a reopen) numbers its utterances from 1 again; the old one's are dead.
                Clear();
                _session = frame.Session;
            }
            if (playback == null) { _current = frame; return; }  // no audio to wait for: show it now
            if (frame.SamplePosition < 0) { _idle = frame; return; }
            if (frame.Utterance <= _over) return;  // a late frame of a line that is over
            _newest = Math.Max(_newest, frame.Utterance);
            _pending.Enqueue(frame);
        }

        void OnInterrupted(int session)
        {
            // The cut-off line will not be heard further (the caller stopped or replaced its audio), and
            // the server sends no more of its frames; any still on their way are dropped on arrival.
            if (session != _session) return;
            _over = Math.Max(_over, _newest);
            _pending.Clear();
        }

        void OnClosed(int session)
        {
            if (session == _session) Clear();
        }

        void LateUpdate()
        {
            if (playback != null) FollowPlayback();
            if (_current == null) return;
            for (int k = 0; k < _shapeIndex.Length; k++)
            {
                if (_shapeIndex[k] >= 0)
                    face.SetBlendShapeWeight(_shapeIndex[k], 100f * weightScale * _current.Blendshape(k));
            }
            // Frame convention: +pitch looks down, +yaw turns to the character's left, +roll tilts left.
            if (head)
                head.localRotation = _headRest * Quaternion.Euler(_current.HeadPitch, -_current.HeadYaw, -_current.HeadRoll);
            var g = MotionLayout.Gaze;
            if (leftEye)
                leftEye.localRotation = _leftRest * Quaternion.Euler(-_current.Values[g + 1], -_current.Values[g], 0f);
            if (rightEye)
                rightEye.localRotation = _rightRest * Quaternion.Euler(-_current.Values[g + 3], -_current.Values[g + 2], 0f);
        }

        // Show the newest frame whose audio has been heard, drop the frames of lines that are over, and
        // let idle frames through once no line is queued or playing.
        void FollowPlayback()
        {
            bool playing = playback.isPlaying;
            long heard = playing ? playback.timeSamples : -1;
            // The source stopped, or went back (a new clip, or the same one again): the line it was
            // playing is over, and whatever of it is still queued will never be heard.
            if (!playing || heard < _lastHeard)
            {
                _over = Math.Max(_over, _heardUtterance);
                while (_pending.Count > 0 && _pending.Peek().Utterance <= _over) _pending.Dequeue();
            }
            _lastHeard = heard;
            if (playing)
            {
                while (_pending.Count > 0 && _pending.Peek().SamplePosition <= heard)
                {
                    _current = _pending.Dequeue();
                    _heardUtterance = _current.Utterance;
                }
            }
            // A line still playing, or queued to play, keeps its frames on the face; after it, idle.
            bool lineOn = _pending.Count > 0 || (playing && _heardUtterance > _over);
            if (!lineOn && _idle != null)
            {
                _current = _idle;
                _idle = null;
            }
        }

        /// <summary>Forget queued frames and utterance bookkeeping (a new session starts over).</summary>
        public void Clear()
        {
            _pending.Clear();
            _idle = null;
            _newest = 0;
            _heardUtterance = 0;
            _over = 0;
            _lastHeard = -1;
        }
    }
}
