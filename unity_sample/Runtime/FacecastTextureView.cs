// Shows a texture session's rendered portrait on a UI RawImage.
//
// JPEG and PNG frames are decoded with Texture2D.LoadImage; raw RGB8 / RGBA8 frames are uploaded with
// LoadRawTextureData (flipped by the UV rect, since facecast sends rows top to bottom and Unity's
// textures start at the bottom).
using UnityEngine;
using UnityEngine.UI;

namespace Facecast
{
    public sealed class FacecastTextureView : MonoBehaviour
    {
        public FacecastClient client;
        [Tooltip("When set, only the textures of this sender's session are shown (needed when several characters share one client).")]
        public FacecastAudioSender sender;
        public RawImage target;

        Texture2D _texture;

        void OnEnable()
        {
            if (client) client.TextureReceived += OnTexture;
            else Debug.LogWarning($"facecast: {name}'s FacecastTextureView has no client set; it shows nothing");
        }

        void OnDisable() { if (client) client.TextureReceived -= OnTexture; }

        // A Texture2D made by script is not freed with the component that made it: a view destroyed with
        // its character would leave its texture (4 MB at 1024 px) in memory until the scene unloads.
        void OnDestroy()
        {
            if (_texture == null) return;
            if (target != null && target.texture == _texture) target.texture = null;
            Destroy(_texture);
            _texture = null;
        }

        void OnTexture(TextureFrame frame)
        {
            if (sender != null && frame.Session != sender.Session) return;  // another character's portrait
            bool raw = frame.Encoding == "rgb8" || frame.Encoding == "rgba8";
            var format = frame.Encoding == "rgba8" ? TextureFormat.RGBA32 : TextureFormat.RGB24;
            if (_texture == null || _texture.width != frame.Width || _texture.height != frame.Height
                || (raw && _texture.format != format))
            {
                if (_texture != null) Destroy(_texture);
                _texture = new Texture2D(frame.Width, frame.Height, raw ? format : TextureFormat.RGB24, false);
            }
            if (raw)
            {
                _texture.LoadRawTextureData(frame.Data);
                _texture.Apply(false);
                target.uvRect = new Rect(0f, 1f, 1f, -1f);
            }
            else
            {
                _texture.LoadImage(frame.Data);  // decodes and uploads; keeps the texture's size in sync
                target.uvRect = new Rect(0f, 0f, 1f, 1f);
            }
            target.texture = _texture;
        }
    }
}
