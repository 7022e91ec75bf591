// Drives a SkinnedMeshRenderer's blendshapes (and optionally head and eye bones) from facecast frames.
//
// Rigs name their shapes differently (ShapeNames: ARKit / Perfect Sync VRM, Ready Player Me, prefixed
// exports, "_L" and Blender's ".L" sides). Extra aliases can be added in the inspector.
//
// With a playback source, each frame is shown when its audio sample is heard (PlaybackQueue: which
// frame shows, which lines are over, when idle frames may show).
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
        readonly PlaybackQueue _queue = new PlaybackQueue();
        int _session = -1;        // the session of the frames seen last
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
            if (!client)
            {
                Debug.LogWarning($"facecast: {name}'s ArkitBlendshapeDriver has no client set; it shows no frames");
                return;
            }
            client.FrameReceived += OnFrame;
            client.Interrupted += OnInterrupted;
            client.Closed += OnClosed;
            client.ConnectionChanged += OnConnectionChanged;
        }

        void OnDisable()
        {
            if (!client) return;
            client.FrameReceived -= OnFrame;
            client.Interrupted -= OnInterrupted;
            client.Closed -= OnClosed;
            client.ConnectionChanged -= OnConnectionChanged;
        }

        public void BuildMapping()
        {
            _shapeIndex = new int[MotionLayout.ArkitNames.Length];
            MappedCount = 0;
            if (!face || !face.sharedMesh) return;
            var mesh = face.sharedMesh;
            var shapes = new string[mesh.blendShapeCount];
            for (int i = 0; i < shapes.Length; i++) shapes[i] = mesh.GetBlendShapeName(i);
            var byAlias = new List<KeyValuePair<string, string>>();
            foreach (var alias in aliases) byAlias.Add(new KeyValuePair<string, string>(alias.arkitName, alias.meshShape));
            _shapeIndex = ShapeNames.Map(shapes, byAlias);
            foreach (int i in _shapeIndex) if (i >= 0) MappedCount++;
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
                _queue.Clear();
                _session = frame.Session;
            }
            if (playback == null) _queue.ShowNow(frame);  // no audio to wait for: show it now
            else _queue.Add(frame);
        }

        void OnInterrupted(int session)
        {
            if (session == _session) _queue.Interrupted();
        }

        void OnClosed(int session)
        {
            if (session == _session) _queue.Clear();
        }

        void OnConnectionChanged(bool connected)
        {
            // The server forgot the sessions; a restarted one numbers them from 1 again, so the next
            // session may reuse this id with utterances counted from 1: start over.
            if (connected) return;
            _queue.Clear();
            _session = -1;
        }

        void LateUpdate()
        {
            if (playback != null)
            {
                if (sender != null && _session >= 0 && sender.Session == _session) _queue.LineStarted(sender.Line);
                var clip = playback.clip;
                _queue.Follow(playback.isPlaying, playback.timeSamples, clip ? clip.samples : 0);
            }
            var current = _queue.Current;
            if (current == null) return;
            for (int k = 0; k < _shapeIndex.Length; k++)
            {
                if (_shapeIndex[k] >= 0)
                    face.SetBlendShapeWeight(_shapeIndex[k], 100f * weightScale * current.Blendshape(k));
            }
            // Frame convention: +pitch looks down, +yaw turns to the character's left, +roll tilts to its left shoulder; in
            // Unity's axes for bones that face +z at rest (MotionFrame.HeadEulerX...).
            if (head)
                head.localRotation = _headRest * Quaternion.Euler(current.HeadEulerX, current.HeadEulerY, current.HeadEulerZ);
            if (leftEye)
                leftEye.localRotation = _leftRest * Quaternion.Euler(current.LeftEyeEulerX, current.LeftEyeEulerY, 0f);
            if (rightEye)
                rightEye.localRotation = _rightRest * Quaternion.Euler(current.RightEyeEulerX, current.RightEyeEulerY, 0f);
        }

        /// <summary>Forget queued frames and utterance bookkeeping (a new session starts over).</summary>
        public void Clear() => _queue.Clear();
    }
}
