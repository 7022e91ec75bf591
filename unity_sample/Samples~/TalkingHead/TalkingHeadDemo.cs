// Talking head sample: press Space to say the clip, M to toggle a happy/neutral mood.
// Scene setup: a GameObject with FacecastClient, ArkitBlendshapeDriver (face = your rig's head mesh,
// playback = the AudioSource), FacecastAudioSender (source = the same AudioSource), and this script.
// Keys are read with the Input System package where the project has it active (Unity 6's new projects
// do, and there the legacy Input class throws), else with the legacy Input Manager.
using System.Collections.Generic;
using UnityEngine;
#if ENABLE_INPUT_SYSTEM
using UnityEngine.InputSystem;
#endif

namespace Facecast.Samples
{
    public sealed class TalkingHeadDemo : MonoBehaviour
    {
        public FacecastClient client;
        public FacecastAudioSender sender;
        public AudioClip line;
        public float fps = 60f;

        bool _opened;
        bool _happy;

        void Start()
        {
            if (client && sender) return;
            Debug.LogError("facecast: set the demo's client and sender fields (FacecastClient, FacecastAudioSender)");
            enabled = false;
        }

        void Update()
        {
            // A lost connection loses the session (the sender forgets it): open again once reconnected.
            if (!client.Connected) _opened = false;
            else if (!_opened)
            {
                // Opened with the line's sample rate and channels, so Speak(line) needs no new session.
                sender.OpenSession(fps, line);
                _opened = true;
            }
            if (SayPressed() && line) sender.Speak(line);
            if (MoodPressed())
            {
                _happy = !_happy;
                // Kept on the sender too, so a session it opens later starts in this mood.
                sender.emotion = _happy ? "happy:0.7" : "neutral";
                if (sender.Session >= 0)
                    client.SetControls(sender.Session, new Dictionary<string, object> { ["emotion"] = sender.emotion });
            }
        }

#if ENABLE_INPUT_SYSTEM
        static bool SayPressed() => Keyboard.current != null && Keyboard.current.spaceKey.wasPressedThisFrame;
        static bool MoodPressed() => Keyboard.current != null && Keyboard.current.mKey.wasPressedThisFrame;
#else
        static bool SayPressed() => Input.GetKeyDown(KeyCode.Space);
        static bool MoodPressed() => Input.GetKeyDown(KeyCode.M);
#endif
    }
}
