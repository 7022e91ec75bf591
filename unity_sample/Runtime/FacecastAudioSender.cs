// Streams speech to facecast in real time, from an AudioClip (played back in sync) or the microphone.
//
// Clip mode sends the clip's samples as the wall clock reaches them and starts playback `playbackDelay`
// seconds later; ArkitBlendshapeDriver then shows each frame when its sample is heard. The delay must
// cover the bridge latency (facecast's README: p95 64-71 ms on loopback with 1-8 sessions on a 2-core
// machine, 126-173 ms with 32 sessions there, 90-102 ms for one 512 px texture session and 141-163 ms for
// four, by the machine's speed); 0.1 s covers a few sessions; raise it with many sessions, over a network or with several texture sessions. A line whose
// source is stopped (or given another clip) is cut off at the server (`interrupt`).
//
// A session's sample rate and channel count are fixed when it is opened (PROTOCOL.md, `open`), and the
// server counts each frame's sample_pos in them. Clips are sent as they are, so a clip in another format
// than the open session is said on a new session opened with the clip's format (the old one is closed).
// Frame positions then count in the clip's own samples, which is what AudioSource.timeSamples reports.
using System.Collections.Generic;
using UnityEngine;

namespace Facecast
{
    public sealed class FacecastAudioSender : MonoBehaviour
    {
        public FacecastClient client;
        public AudioSource source;
        [Tooltip("Seconds between sending a sample and playing it: covers the bridge latency.")]
        public float playbackDelay = 0.1f;
        [Tooltip("Emotion, e.g. happy:0.6 (neutral, happy, sad, angry, surprised).")]
        public string emotion = "neutral";
        public bool useMicrophone;
        public string microphoneDevice;  // null or empty: the default microphone
        [Tooltip("What the session sends back: \"motion\" (frames for a rig), \"texture\" (the rendered portrait, for a FacecastTextureView) or \"both\".")]
        public string mode = "motion";
        [Tooltip("Texture sessions: the server's avatar, the frame's side in pixels (64-1024, a multiple of 4) and its encoding (jpeg, png, rgb8, rgba8).")]
        public string avatar = "default";
        public int textureSize = 512;
        public string textureEncoding = "jpeg";
        [Tooltip("Keep the face alive between lines (idle frames: blinks, gaze, breathing head motion). Each idle session costs the server all the time: about a sixth of a CPU core for motion, a whole core for a 512 px texture session at 60 fps on a 2-core CPU. Turn it off for characters that only need to move while they speak.")]
        public bool idle = true;

        // Asked of the microphone, within the rates it takes (Microphone.GetDeviceCaps).
        const int PreferredMicrophoneRate = 48000;
        // How long after its scheduled start a line's source may still read as not playing.
        const double StartGraceS = 0.1;
        const float MaxPerUpdateS = 0.25f;  // audio sent in one Update, in one message

        int _session = -1;
        int _rate, _channels;            // the open session's format
        bool _opening;                   // an open is on its way and its `opened` has not come back
        int _openingRate, _openingChannels;
        string _request;                 // echoed by `opened`: tells this sender's session from others'
        int _opens;
        int _line;                       // utterances started on the open session (the server's numbering)
        bool _lineStarted;               // the clip being sent has sent audio, so it is utterance _line
        float _fps = 60f;
        AudioClip _waiting;              // a clip said while its session was (re)opening
        AudioClip _clip;
        double _startTime;
        int _sentFrames;   // sample frames already sent (per channel)
        int _micPosition;

        public bool Speaking => _clip != null && !useMicrophone;
        /// <summary>This sender's session id, -1 until it is open. ArkitBlendshapeDriver.sender filters
        /// frames by it when several characters share one client.</summary>
        public int Session => _session;
        /// <summary>The utterance number of the line said last on this session (0 before the first): the
        /// server numbers utterances from 1 in the order their audio starts, so a clip counts once its
        /// first samples are sent (a clip replaced before that never was one).</summary>
        public int Line => _line;

        void OnEnable()
        {
            if (!client)
            {
                Debug.LogWarning($"facecast: {name}'s FacecastAudioSender has no client set; it sends nothing");
                return;
            }
            client.OpenedWithRequest += OnOpened;
            client.RequestFailed += OnRequestFailed;
            client.ConnectionChanged += OnConnectionChanged;
            if (!useMicrophone && !source)
                Debug.LogWarning($"facecast: {name}'s FacecastAudioSender has no source set (the AudioSource that plays its lines); Speak does nothing");
        }

        void OnDisable()
        {
            if (!client) return;
            client.OpenedWithRequest -= OnOpened;
            client.RequestFailed -= OnRequestFailed;
            client.ConnectionChanged -= OnConnectionChanged;
        }

        void OnRequestFailed(object request, string code, string message)
        {
            if (!(request is string echoed) || echoed != _request || !_opening) return;  // not our open
            // No session is coming: the clip waiting for it is not said (it would wait for ever).
            _opening = false;
            _waiting = null;
            Debug.LogError($"facecast: {name} could not open its session ({code}: {message}); fix its settings and call OpenSession again");
        }

        void OnOpened(int session, float fps, object request)
        {
            var echoed = request as string;
            if (echoed == null || !echoed.StartsWith(RequestPrefix)) return;  // another sender's session
            if (echoed != _request)
            {
                client.Close(session);  // an open this sender superseded before it came back
                return;
            }
            _opening = false;
            _session = session;
            _line = 0;
            _rate = _openingRate;
            _channels = _openingChannels;
            if (useMicrophone) StartMicrophone();
            else if (_waiting != null)
            {
                var clip = _waiting;
                _waiting = null;
                BeginLine(clip);
            }
        }

        void OnConnectionChanged(bool connected)
        {
            if (connected) return;
            // The server forgets a lost client's sessions: forget ours too, and open again once connected.
            _session = -1;
            _opening = false;
            _waiting = null;
            _clip = null;
        }

        string RequestPrefix => $"facecast-sender-{GetInstanceID()}-";

        /// <summary>Open the session once the client is connected (call from Start, or let the demo do it).
        /// Its format is the microphone's, else <paramref name="formatOf"/>'s, else source.clip's, else
        /// 48 kHz mono; Speak opens a new session when a clip's format differs.</summary>
        public void OpenSession(float fps = 60f, AudioClip formatOf = null)
        {
            if (!client) { Debug.LogWarning($"facecast: {name}'s FacecastAudioSender has no client set"); return; }
            _fps = fps;
            var clip = formatOf ? formatOf : (source ? source.clip : null);
            if (useMicrophone) OpenWithFormat(MicrophoneRate(), 1);
            else if (clip) OpenWithFormat(clip.frequency, clip.channels);
            else OpenWithFormat(48000, 1);
        }

        void OpenWithFormat(int rate, int channels)
        {
            if (_session >= 0) client.Close(_session);  // else its idle frames run on unseen
            _session = -1;
            _clip = null;  // a line being sent goes with its session
            _opening = true;
            _openingRate = rate;
            _openingChannels = channels;
            _request = RequestPrefix + (++_opens);
            client.Open(_fps, rate, channels, idle: idle,
                        controls: new Dictionary<string, object> { ["emotion"] = emotion }, request: _request,
                        mode: mode, size: textureSize, encoding: textureEncoding, avatar: avatar);
        }

        /// <summary>Say a clip: stream it now, play it after the delay. A line still being sent is cut off.
        /// The clip must be readable (Load Type "Decompress On Load") for AudioClip.GetData.</summary>
        public void Speak(AudioClip clip)
        {
            if (!client) { Debug.LogWarning($"facecast: {name}'s FacecastAudioSender has no client set"); return; }
            if (!source) { Debug.LogWarning($"facecast: {name}'s FacecastAudioSender has no source set (the AudioSource that plays the line)"); return; }
            if (_session < 0 && !_opening) { Debug.LogWarning("facecast: no session open yet"); return; }
            if (clip == null || clip.samples == 0) { Debug.LogWarning("facecast: nothing to say (no clip, or an empty one)"); return; }
            bool sameFormat = _opening
                ? clip.frequency == _openingRate && clip.channels == _openingChannels
                : clip.frequency == _rate && clip.channels == _channels;
            if (!sameFormat)
            {
                // sample_rate and channels are fixed for a session's life: say the clip on a session
                // opened with its format, once `opened` comes back (OnOpened).
                source.Stop();
                _waiting = clip;
                OpenWithFormat(clip.frequency, clip.channels);
                return;
            }
            if (_opening) { _waiting = clip; return; }  // the session for this format is on its way
            if (_clip != null) client.Interrupt(_session);
            BeginLine(clip);
        }

        void BeginLine(AudioClip clip)
        {
            _clip = clip;
            _lineStarted = false;
            _sentFrames = 0;
            _startTime = AudioSettings.dspTime;
            source.clip = clip;
            source.PlayScheduled(_startTime + playbackDelay);
        }

        void Update()
        {
            if (_session < 0) return;
            if (useMicrophone) { PumpMicrophone(); return; }
            if (_clip == null) return;
            if (LeftBySource())
            {
                // Nobody will hear the rest of this line: stop sending it and cut it off at the server,
                // whose `interrupted` makes the driver drop its frames (queued or still on their way).
                client.Interrupt(_session);
                _clip = null;
                return;
            }
            int due = Mathf.Min(_clip.samples, (int)((AudioSettings.dspTime - _startTime) * _clip.frequency));
            // After a stall (a breakpoint, a long load) seconds are due at once: at most MaxPerUpdateS goes
            // in an Update, so that neither a message nor the audio the server holds for the session passes
            // its limits (4 MiB, 10 s). The server takes a session's audio at 25-100 s a second, so a line
            // catches up at 15 s a second (at 60 fps) without outrunning it.
            int frames = Mathf.Min(due - _sentFrames, System.Math.Max(1, (int)(MaxPerUpdateS * _clip.frequency)));
            if (frames <= 0) return;
            int count = frames * _clip.channels;
            var chunk = new float[count];
            _clip.GetData(chunk, _sentFrames);
            client.SendAudio(_session, chunk, count);
            _sentFrames += frames;
            if (!_lineStarted) { _line++; _lineStarted = true; }
            if (_sentFrames >= _clip.samples)
            {
                client.EndUtterance(_session);
                _clip = null;
            }
        }

        // The line's source stopped or took another clip once the line was due to play. A paused source
        // keeps its place (Stop rewinds to 0), and the line goes on.
        bool LeftBySource()
        {
            if (AudioSettings.dspTime < _startTime + playbackDelay + StartGraceS) return false;
            if (source.clip != _clip) return true;
            if (source.isPlaying) return false;
            int at = source.timeSamples;
            return at <= 0 || at >= _clip.samples;
        }

        string MicrophoneName => string.IsNullOrEmpty(microphoneDevice) ? null : microphoneDevice;

        // The session's rate is the one the microphone records at: 48 kHz, or the nearest it takes
        // (0 and 0 from GetDeviceCaps: any rate).
        int MicrophoneRate()
        {
            Microphone.GetDeviceCaps(MicrophoneName, out int lowest, out int highest);
            return lowest == 0 && highest == 0 ? PreferredMicrophoneRate : Mathf.Clamp(PreferredMicrophoneRate, lowest, highest);
        }

        void StartMicrophone()
        {
            _clip = Microphone.Start(MicrophoneName, true, 1, _rate);
            _micPosition = 0;
        }

        void PumpMicrophone()
        {
            if (_clip == null) return;
            int position = Microphone.GetPosition(MicrophoneName);
            int available = (position - _micPosition + _clip.samples) % _clip.samples;
            if (available <= 0) return;
            var chunk = new float[available];
            if (_micPosition + available <= _clip.samples)
            {
                _clip.GetData(chunk, _micPosition);
            }
            else
            {
                // The microphone clip is a ring buffer: read to its end, then from its start.
                int first = _clip.samples - _micPosition;
                var head = new float[first];
                var tail = new float[available - first];
                _clip.GetData(head, _micPosition);
                _clip.GetData(tail, 0);
                head.CopyTo(chunk, 0);
                tail.CopyTo(chunk, first);
            }
            client.SendAudio(_session, chunk, available);
            _micPosition = position;
        }
    }
}
