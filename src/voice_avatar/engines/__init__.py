"""Speech engines: each turns text into `voice_avatar.audio.Audio`."""
