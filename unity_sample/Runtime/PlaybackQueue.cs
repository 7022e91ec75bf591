// Which motion frame a face shows while its speech plays on an audio source: plain C#, no UnityEngine,
// so its rules can be tested outside Unity (tests/unity in the facecast repository).
//
// Speech frames wait in a queue until their sample is heard. The queue holds frames in arrival order,
// which is utterance order; a line the source has left (it stopped, or started another clip) or the
// server cut off (`interrupted`) will never be heard further, so its frames are dropped, or the next
// line's frames (whose sample_pos starts again from near 0) would wait behind them forever. A paused source
// keeps its line: its frames wait until it plays on. Idle frames (between utterances) are held back while
// a line's frames are queued or its audio is playing: the server starts idling as soon as a line's last
// frame is out, about `playbackDelay` before that frame is heard.
using System;
using System.Collections.Generic;

namespace Facecast
{
    public sealed class PlaybackQueue
    {
        readonly Queue<MotionFrame> _pending = new Queue<MotionFrame>();  // speech frames not heard yet
        MotionFrame _idle;        // the newest idle frame, shown once no line is queued or playing
        int _newest;              // the newest utterance seen
        int _over;                // utterances up to this one will not be heard any more
        long _lastHeard = -1;     // the source's position at the last Follow, -1 while stopped
        bool _speechShown;        // Current is a speech frame, not an idle one

        /// <summary>The frame the face shows now (null before the first).</summary>
        public MotionFrame Current { get; private set; }

        /// <summary>Speech frames waiting for their sample to be heard.</summary>
        public int Pending => _pending.Count;

        /// <summary>Take a frame of the followed session as it arrives.</summary>
        public void Add(MotionFrame frame)
        {
            if (frame.SamplePosition < 0) { _idle = frame; return; }
            if (frame.Utterance <= _over) return;  // a late frame of a line that is over
            _newest = Math.Max(_newest, frame.Utterance);
            _pending.Enqueue(frame);
        }

        /// <summary>The server cut the session's speech off (`interrupted`): the cut-off line will not be
        /// heard further, and any of its frames still on their way are dropped on arrival.</summary>
        public void Interrupted()
        {
            _over = Math.Max(_over, _newest);
            _pending.Clear();
        }

        /// <summary>Line <paramref name="utterance"/> took the source: every earlier line is over, even one
        /// stopped before any of its frames arrived (whose frames would otherwise wait ahead of this one's).</summary>
        public void LineStarted(int utterance)
        {
            if (utterance - 1 <= _over) return;
            _over = utterance - 1;
            while (_pending.Count > 0 && _pending.Peek().Utterance <= _over) _pending.Dequeue();
        }

        /// <summary>Follow the source once a rendered frame: show the newest frame whose sample has been
        /// heard, drop the frames of lines that are over, and let idle frames through once no line is
        /// queued or playing. <paramref name="position"/> is the source's place in samples
        /// (AudioSource.timeSamples) and <paramref name="clipSamples"/> its clip's length (0 for none).</summary>
        public MotionFrame Follow(bool playing, long position, long clipSamples)
        {
            // Pause keeps the source's place; Stop and a clip's end rewind it to 0. A paused line goes on
            // where it was, so its frames stay queued and the face holds still.
            if (!playing && position > 0 && position < clipSamples) return Current;
            long heard = playing ? position : -1;
            // The source stopped, or went back (a new clip, or the same one again): every line seen so far
            // is over, and whatever of them is queued or still on its way will never be heard. A new
            // line's frames come after this, as its audio is sent only once the source has its clip.
            if ((!playing && _lastHeard >= 0) || heard < _lastHeard)
            {
                _over = Math.Max(_over, _newest);
                _pending.Clear();
                _speechShown = false;  // what plays now (the same clip again, say) is no line of ours
            }
            _lastHeard = heard;
            if (playing)
            {
                while (_pending.Count > 0 && _pending.Peek().SamplePosition <= heard)
                {
                    Current = _pending.Dequeue();
                    _speechShown = true;
                }
            }
            // A line still playing, or queued to play, keeps its frames on the face; after it, idle.
            bool lineOn = _pending.Count > 0 || (playing && _speechShown);
            if (!lineOn && _idle != null)
            {
                Current = _idle;
                _idle = null;
                _speechShown = false;
            }
            return Current;
        }

        /// <summary>Show a frame at once, queueing nothing (no audio to wait for: the microphone).</summary>
        public void ShowNow(MotionFrame frame) => Current = frame;

        /// <summary>Forget queued frames and utterance bookkeeping (a new session starts over).</summary>
        public void Clear()
        {
            _pending.Clear();
            _idle = null;
            _newest = 0;
            _over = 0;
            _lastHeard = -1;
            _speechShown = false;
        }
    }
}
