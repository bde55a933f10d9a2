// Video decoding for CMedia: FFmpeg (libavformat, libavcodec, libswscale) reading a container from memory.
// Frames are sampled and converted as the vPDQ reference does (every Nth decoded frame, N from the frame rate;
// conversion to RGB24 with SWS_AREA), so frame hashes line up with its published ones.
#include "CMedia.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libswscale/swscale.h>

static void video_message(char *message, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(message, CMEDIA_MESSAGE_SIZE, format, args);
    va_end(args);
}

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
} memory_reader;

static int memory_read(void *opaque, uint8_t *target, int length) {
    memory_reader *reader = opaque;
    if (reader->offset >= reader->size) return AVERROR_EOF;
    size_t left = reader->size - reader->offset;
    size_t count = (size_t)length < left ? (size_t)length : left;
    memcpy(target, reader->data + reader->offset, count);
    reader->offset += count;
    return (int)count;
}

static int64_t memory_seek(void *opaque, int64_t offset, int whence) {
    memory_reader *reader = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
        case AVSEEK_SIZE: return (int64_t)reader->size;
        case SEEK_SET: base = 0; break;
        case SEEK_CUR: base = (int64_t)reader->offset; break;
        case SEEK_END: base = (int64_t)reader->size; break;
        default: return AVERROR(EINVAL);
    }
    if (offset > INT64_MAX - base) return AVERROR(EINVAL);
    int64_t target = base + offset;
    if (target < 0 || (uint64_t)target > reader->size) return AVERROR(EINVAL);
    reader->offset = (size_t)target;
    return target;
}

/// Demuxers that follow references (HLS playlists, concat lists, DASH manifests) would open other files or URLs
/// through this hook: none may, the upload is all there is.
static int refuse_open(struct AVFormatContext *context, AVIOContext **pb, const char *url, int flags,
                       AVDictionary **options) {
    (void)context; (void)pb; (void)url; (void)flags; (void)options;
    return AVERROR(EPERM);
}

/// The container formats accepted: the common upload formats, none of which refer to other files.
static const char *const allowed_formats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,ogg,mpeg,asf";

typedef struct {
    AVIOContext *io;
    AVFormatContext *format;
    AVCodecContext *codec;
    AVFrame *frame;
    AVFrame *rgb;
    AVPacket *packet;
    struct SwsContext *scaler;
} video_state;

static void release(video_state *state) {
    sws_freeContext(state->scaler);
    av_frame_free(&state->rgb);
    av_frame_free(&state->frame);
    av_packet_free(&state->packet);
    avcodec_free_context(&state->codec);
    if (state->format != NULL) {
        avformat_close_input(&state->format);  // does not free a custom pb
    }
    if (state->io != NULL) {
        av_freep(&state->io->buffer);
        avio_context_free(&state->io);
    }
}

static double monotonic_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

typedef struct {
    video_state *state;
    cmedia_video_limits limits;
    /// When the work must stop (monotonic seconds), or 0 for never.
    double deadline;
    double frame_rate;
    int64_t frame_mod;
    cmedia_frame_callback callback;
    void *context;
    cmedia_video_info *info;
    /// The video stream's time base (seconds a tick) and start, and the latest decoded frame's time from the start
    /// (-1 before any frame has a timestamp): how much of the stream the frames decoded cover.
    double time_base;
    int64_t start_time;
    double last_seconds;
} decode_run;

/// CMEDIA_TOO_LARGE once the work has outrun `max_work_seconds`, naming how far into the video it got.
static cmedia_status check_time(decode_run *run) {
    if (run->deadline <= 0 || monotonic_seconds() <= run->deadline) return CMEDIA_OK;
    video_message(run->info->message, "hashing the video took over %.0f s and was stopped %.0f s into it "
                  "(media.maxVideoHashSeconds)", run->limits.max_work_seconds,
                  (double)run->info->decoded_frames / run->frame_rate);
    return CMEDIA_TOO_LARGE;
}

/// Converts and hands over one decoded frame if it is a sampled one.
static cmedia_status take_frame(decode_run *run) {
    video_state *state = run->state;
    AVFrame *frame = state->frame;
    cmedia_status late = check_time(run);
    if (late != CMEDIA_OK) return late;
    const int64_t number = run->info->decoded_frames;
    run->info->decoded_frames++;
    if (frame->best_effort_timestamp != AV_NOPTS_VALUE && run->time_base > 0) {
        const int64_t start = run->start_time == AV_NOPTS_VALUE ? 0 : run->start_time;
        const double at = (double)(frame->best_effort_timestamp - start) * run->time_base;
        if (at > run->last_seconds) run->last_seconds = at;
    }
    if (run->info->decoded_frames > run->limits.max_frames) {
        video_message(run->info->message, "the video has more than %lld frames, over the limit",
                      (long long)run->limits.max_frames);
        return CMEDIA_TOO_LARGE;
    }
    const double seconds = (double)number / run->frame_rate;
    if (seconds > run->limits.max_seconds) {
        video_message(run->info->message, "the video runs longer than %.0f seconds, over the limit",
                      run->limits.max_seconds);
        return CMEDIA_TOO_LARGE;
    }
    if (number % run->frame_mod != 0) return CMEDIA_OK;
    if (frame->width <= 0 || frame->height <= 0 || (int64_t)frame->width * frame->height > run->limits.max_pixels ||
        frame->width > 16384 || frame->height > 16384) {
        video_message(run->info->message, "a video frame is %dx%d pixels, over the limit of %lld pixels", frame->width,
                      frame->height, (long long)run->limits.max_pixels);
        return CMEDIA_TOO_LARGE;
    }
    // Streams may change size midway: the scaler and the target follow the frame.
    state->scaler = sws_getCachedContext(state->scaler, frame->width, frame->height, (enum AVPixelFormat)frame->format,
                                         frame->width, frame->height, AV_PIX_FMT_RGB24, SWS_AREA, NULL, NULL, NULL);
    if (state->scaler == NULL) {
        video_message(run->info->message, "the video's pixel format cannot be converted to RGB");
        return CMEDIA_CORRUPT;
    }
    AVFrame *rgb = state->rgb;
    if (rgb->width != frame->width || rgb->height != frame->height) {
        av_frame_unref(rgb);
        rgb->format = AV_PIX_FMT_RGB24;
        rgb->width = frame->width;
        rgb->height = frame->height;
        if (av_frame_get_buffer(rgb, 0) < 0) {
            video_message(run->info->message, "out of memory converting a %dx%d frame", frame->width, frame->height);
            return CMEDIA_NO_MEMORY;
        }
    }
    sws_scale(state->scaler, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height, rgb->data,
              rgb->linesize);
    run->info->sampled_frames++;
    if (run->callback(run->context, rgb->data[0], rgb->width, rgb->height, rgb->linesize[0], number, seconds) != 0) {
        video_message(run->info->message, "stopped by the frame callback");
        return CMEDIA_STOPPED;
    }
    return CMEDIA_OK;
}

/// Sends one packet (NULL: flush) and takes every frame the decoder then returns.
static cmedia_status decode_packet(decode_run *run, AVPacket *packet) {
    video_state *state = run->state;
    int sent = avcodec_send_packet(state->codec, packet);
    if (sent < 0 && sent != AVERROR_EOF) {
        // A damaged packet: skip it, as players do; a wholly broken stream yields no frames and fails below.
        return CMEDIA_OK;
    }
    for (;;) {
        int received = avcodec_receive_frame(state->codec, state->frame);
        if (received == AVERROR(EAGAIN) || received == AVERROR_EOF) return CMEDIA_OK;
        if (received < 0) return CMEDIA_OK;
        cmedia_status status = take_frame(run);
        av_frame_unref(state->frame);
        if (status != CMEDIA_OK) return status;
    }
}

cmedia_status cmedia_decode_video(const uint8_t *data, size_t size, double seconds_per_sample,
                                  cmedia_video_limits limits, cmedia_frame_callback callback, void *context,
                                  cmedia_video_info *info) {
    const double started = monotonic_seconds();
    memset(info, 0, sizeof *info);
    if (data == NULL || size == 0) {
        video_message(info->message, "the data is empty");
        return CMEDIA_UNSUPPORTED;
    }
    av_log_set_level(AV_LOG_QUIET);
    video_state state;
    memset(&state, 0, sizeof state);
    memory_reader reader = {data, size, 0};
    cmedia_status status = CMEDIA_OK;

    const int buffer_size = 64 * 1024;
    uint8_t *buffer = av_malloc(buffer_size);
    if (buffer == NULL) {
        video_message(info->message, "out of memory opening the video");
        return CMEDIA_NO_MEMORY;
    }
    state.io = avio_alloc_context(buffer, buffer_size, 0, &reader, memory_read, NULL, memory_seek);
    if (state.io == NULL) {
        av_free(buffer);
        video_message(info->message, "out of memory opening the video");
        return CMEDIA_NO_MEMORY;
    }
    state.format = avformat_alloc_context();
    if (state.format == NULL) {
        release(&state);
        video_message(info->message, "out of memory opening the video");
        return CMEDIA_NO_MEMORY;
    }
    state.format->pb = state.io;
    state.format->flags |= AVFMT_FLAG_CUSTOM_IO;
    state.format->io_open = refuse_open;
    state.format->format_whitelist = av_strdup(allowed_formats);
    state.format->protocol_whitelist = av_strdup("none");
    if (avformat_open_input(&state.format, NULL, NULL, NULL) < 0) {
        // avformat_open_input frees the context on failure (not the custom pb).
        state.format = NULL;
        release(&state);
        video_message(info->message, "the data is not a video container this server reads (MP4, MOV, WebM, Matroska, AVI, FLV, MPEG-TS, Ogg)");
        return CMEDIA_UNSUPPORTED;
    }
    if (avformat_find_stream_info(state.format, NULL) < 0) {
        release(&state);
        video_message(info->message, "the video data is corrupt (its streams cannot be read)");
        return CMEDIA_CORRUPT;
    }
    int stream_index = -1;
    for (unsigned i = 0; i < state.format->nb_streams; i++) {
        if (state.format->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !(state.format->streams[i]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
            stream_index = (int)i;
            break;
        }
    }
    if (stream_index < 0) {
        release(&state);
        video_message(info->message, "the container has no video stream");
        return CMEDIA_NO_VIDEO;
    }
    AVStream *stream = state.format->streams[stream_index];
    const AVCodecParameters *parameters = stream->codecpar;
    info->width = parameters->width;
    info->height = parameters->height;
    if (parameters->width <= 0 || parameters->height <= 0) {
        release(&state);
        video_message(info->message, "the video declares a zero frame size");
        return CMEDIA_CORRUPT;
    }
    if ((int64_t)parameters->width * parameters->height > limits.max_pixels) {
        // The message first: release frees the stream's parameters (read after it, they printed "0x0").
        video_message(info->message, "the video's frames are %dx%d pixels, over the limit of %lld pixels (3840x2160)",
                      parameters->width, parameters->height, (long long)limits.max_pixels);
        release(&state);
        return CMEDIA_TOO_LARGE;
    }
    if (state.format->duration != AV_NOPTS_VALUE && state.format->duration > 0) {
        info->duration = (double)state.format->duration / AV_TIME_BASE;
        if (info->duration > limits.max_seconds) {
            release(&state);
            video_message(info->message, "the video runs %.0f seconds, over the limit of %.0f seconds", info->duration,
                          limits.max_seconds);
            return CMEDIA_TOO_LARGE;
        }
    }
    AVRational rate = stream->avg_frame_rate;
    if (rate.num <= 0 || rate.den <= 0) rate = stream->r_frame_rate;
    if (rate.num <= 0 || rate.den <= 0) {
        release(&state);
        video_message(info->message, "the video does not declare a frame rate");
        return CMEDIA_CORRUPT;
    }
    info->frame_rate = (double)rate.num / rate.den;
    const AVCodec *codec = avcodec_find_decoder(parameters->codec_id);
    if (codec == NULL) {
        video_message(info->message, "the video's codec (%s) is not supported", avcodec_get_name(parameters->codec_id));
        release(&state);
        return CMEDIA_UNSUPPORTED;
    }
    state.codec = avcodec_alloc_context3(codec);
    state.frame = av_frame_alloc();
    state.rgb = av_frame_alloc();
    state.packet = av_packet_alloc();
    if (state.codec == NULL || state.frame == NULL || state.rgb == NULL || state.packet == NULL) {
        release(&state);
        video_message(info->message, "out of memory opening the video");
        return CMEDIA_NO_MEMORY;
    }
    if (avcodec_parameters_to_context(state.codec, parameters) < 0) {
        release(&state);
        video_message(info->message, "the video's codec parameters are corrupt");
        return CMEDIA_CORRUPT;
    }
    // One thread: the server runs many requests side by side already.
    state.codec->thread_count = 1;
    /* The decoder itself refuses frames past the pixel cap: a stream may declare a small size and change it in-band,
       and frames that are not sampled never reach the per-frame check. */
    state.codec->max_pixels = limits.max_pixels;
    if (avcodec_open2(state.codec, codec, NULL) < 0) {
        release(&state);
        video_message(info->message, "the video's codec (%s) cannot be opened", codec->name);
        return CMEDIA_CORRUPT;
    }
    int64_t frame_mod = (int64_t)(seconds_per_sample * info->frame_rate);
    if (frame_mod < 1) frame_mod = 1;
    double deadline = limits.max_work_seconds > 0 ? started + limits.max_work_seconds : 0;
    decode_run run = {&state, limits, deadline, info->frame_rate, frame_mod, callback, context, info,
                      av_q2d(stream->time_base), stream->start_time, -1};

    for (;;) {
        status = check_time(&run);
        if (status != CMEDIA_OK) break;
        int read = av_read_frame(state.format, state.packet);
        if (read < 0) break;  // end of data, or data that stops parsing: decode what came before
        if (state.packet->stream_index == stream_index) status = decode_packet(&run, state.packet);
        av_packet_unref(state.packet);
        if (status != CMEDIA_OK) break;
    }
    if (status == CMEDIA_OK) status = decode_packet(&run, NULL);
    if (status == CMEDIA_OK && info->decoded_frames == 0) {
        video_message(info->message, "the video data is corrupt or truncated (no frame could be decoded)");
        status = CMEDIA_CORRUPT;
    }
    if (status == CMEDIA_OK) {
        // A file cut short (an upload stopped midway) still decodes its first part, and its signature then matches
        // neither the whole video nor its copies: refused when the frames decoded clearly end before the duration
        // the video stream declares (its own, else the container's; none declared: nothing to compare).
        double declared = 0;
        if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0 && run.time_base > 0) {
            declared = (double)stream->duration * run.time_base;
        } else if (info->duration > 0) {
            declared = info->duration;
        }
        const double covered = (run.last_seconds >= 0 ? run.last_seconds : (double)info->decoded_frames / info->frame_rate)
                               + 1 / info->frame_rate;
        const double slack = declared * 0.02 > 1 ? declared * 0.02 : 1;
        if (declared > 2 && covered < declared - slack) {
            video_message(info->message, "the video is cut short: its frames end at %.1f s of the %.1f s it declares; send the whole file",
                          covered, declared);
            status = CMEDIA_CORRUPT;
        }
    }
    release(&state);
    return status;
}
