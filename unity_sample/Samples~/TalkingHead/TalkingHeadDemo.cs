// Talking head sample: press Space to say the clip, M to toggle a happy/neutral mood.
// Scene setup: a GameObject with FacecastClient, ArkitBlendshapeDriver (face = your rig's head mesh,
// playback = the AudioSource), FacecastAudioSender (source = the same AudioSource), and this script.
using System.Collections.Generic;
using UnityEngine;

namespace Facecast.Samples
{
    public sealed class TalkingHeadDemo : MonoBehaviour
    {
        public FacecastClient client;
        public FacecastAudioSender sender;
        public AudioClip line;
        public float fps = 60f;

        bool _opened;
        int _session = -1;
        bool _happy;

        void OnEnable() { client.Opened += (session, _) => _session = session; }

        void Update()
        {
            if (!_opened && client.Connected)
            {
                sender.OpenSession(fps);
                _opened = true;
            }
            if (Input.GetKeyDown(KeyCode.Space) && line) sender.Speak(line);
            if (Input.GetKeyDown(KeyCode.M) && _session >= 0)
            {
                _happy = !_happy;
                client.SetControls(_session, new Dictionary<string, object> { ["emotion"] = _happy ? "happy:0.7" : "neutral" });
            }
        }
    }
}
