// Streams speech to facecast in real time, from an AudioClip (played back in sync) or the microphone.
//
// Clip mode sends the clip's samples as the wall clock reaches them and starts playback `playbackDelay`
// seconds later; ArkitBlendshapeDriver then shows each frame when its sample is heard. The delay must
// cover the bridge latency (facecast measures 42-73 ms p50-p95 on loopback with 1-32 sessions, and 74 ms
// p95 for one 512 px texture session); 0.1 s leaves margin; raise it over a network or with textures.
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

        int _session = -1;
        AudioClip _clip;
        double _startTime;
        int _sentFrames;   // sample frames already sent (per channel)
        int _micPosition;

        public bool Speaking => _clip != null && !useMicrophone;

        void OnEnable() { if (client) client.Opened += OnOpened; }
        void OnDisable() { if (client) client.Opened -= OnOpened; }

        void OnOpened(int session, float fps)
        {
            _session = session;
            if (useMicrophone) StartMicrophone();
        }

        /// <summary>Open the session once the client is connected (call from Start, or let the demo do it).</summary>
        public void OpenSession(float fps = 60f)
        {
            int rate = useMicrophone ? 48000 : (source && source.clip ? source.clip.frequency : 48000);
            int channels = useMicrophone ? 1 : (source && source.clip ? source.clip.channels : 1);
            client.Open(fps, rate, channels, idle: true,
                        controls: new System.Collections.Generic.Dictionary<string, object> { ["emotion"] = emotion });
        }

        /// <summary>Say a clip: stream it now, play it after the delay.</summary>
        public void Speak(AudioClip clip)
        {
            if (_session < 0) { Debug.LogWarning("facecast: no session open yet"); return; }
            if (_clip != null) client.Interrupt(_session);
            _clip = clip;
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
            int due = Mathf.Min(_clip.samples, (int)((AudioSettings.dspTime - _startTime) * _clip.frequency));
            int frames = due - _sentFrames;
            if (frames <= 0) return;
            int count = frames * _clip.channels;
            var chunk = new float[count];
            _clip.GetData(chunk, _sentFrames);
            client.SendAudio(_session, chunk, count);
            _sentFrames = due;
            if (_sentFrames >= _clip.samples)
            {
                client.EndUtterance(_session);
                _clip = null;
            }
        }

        void StartMicrophone()
        {
            _clip = Microphone.Start(string.IsNullOrEmpty(microphoneDevice) ? null : microphoneDevice, true, 1, 48000);
            _micPosition = 0;
        }

        void PumpMicrophone()
        {
            if (_clip == null) return;
            int position = Microphone.GetPosition(string.IsNullOrEmpty(microphoneDevice) ? null : microphoneDevice);
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
