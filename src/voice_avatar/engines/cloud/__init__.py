"""Cloud voice engines (ElevenLabs, Fish Audio) behind one small interface, with one error taxonomy."""
