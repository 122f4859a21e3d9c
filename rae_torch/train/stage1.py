"""Stage 1: train the RAE pixel decoder on a frozen encoder (reference-spec 6.1).

Per step: encoder tokens of the batch (no grad), plus noise_tau * u * eps (u ~ U(0, 1) per image);
decoder -> images x_hat. Loss = |x_hat - x|_1 + w_p LPIPS(x, x_hat) [from lpips_start] + w_d lambda
G(x_hat) [from disc_start], G = -mean D(DiffAug(x_hat)), lambda the adaptive weight on the decoder's
last layer. From disc_update_start the discriminator then takes a hinge step on DiffAug(real) against
DiffAug(8-bit quantized x_hat) recomputed by the updated decoder without noise. EMA of the decoder.

As in the reference, the discriminator's LR schedule counts discriminator updates, so its warmup starts
at disc_update_start. Departures from the reference, each a fix: the discriminator's gradients are
averaged over ranks (the reference updates an unwrapped copy per rank), lambda uses the global batch's
gradients, fakes are decoded from the cached clean tokens instead of re-running the encoder, and real
and fake go through the discriminator in one call (one spectral-norm power iteration per update
instead of two).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from rae_spec.configs import ConfigError

from ..decoder import ViTDecoder
from . import distributed, precision
from .codec import LatentDecoder, LatentEncoder
from .config import Stage1Config
from .data import ImageDataset, ImageFolder, epochs_to_steps
from .diffaug import diffaug
from .discriminator import build_discriminator
from .ema import EMA
from .export import provenance, save_model_folder
from .loop import Trainer
from .losses import D_LOSSES, adaptive_weight, generator_loss
from .lpips import build_lpips
from .optim import LRSchedule, build_adamw
from .pretrained import decoder_config, load_decoder, load_encoder
from .randomness import Stream, normals, to_device, uniforms
from .tracking import Tracker, image_grid, save_png

log = logging.getLogger("rae.train")


def quantize(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images rounded to 8 bits, as the reference feeds fakes to the discriminator."""
    x = x.clamp(-1.0, 1.0)
    return torch.round((x + 1.0) * 127.5) / 127.5 - 1.0


class Stage1Trainer(Trainer):
    stage = "stage1"
    cfg: Stage1Config

    def build(self) -> None:
        cfg, dev = self.cfg, self.rt.device
        size = cfg.data.image_size
        folder = ImageFolder(cfg.data.path)
        self.dataset = ImageDataset(folder, size, mode="stage1", flip=cfg.data.flip, resize=cfg.data.stage1_resize)
        encoder, self.encoder_config = load_encoder(cfg.encoder)
        self.codec = LatentEncoder(encoder, self.encoder_config, cfg.encoder_input_size).to(dev)
        self.decoder_config = decoder_config(cfg.decoder, self.encoder_config, cfg.encoder_input_size, size)
        dc = self.decoder_config
        if dc.latent_dim != self.encoder_config.hidden_size or dc.num_patches != self.codec.grid ** 2:
            raise ConfigError(f"the decoder reads {dc.num_patches} tokens of width {dc.latent_dim}; the encoder gives "
                              f"{self.codec.grid ** 2} of width {self.encoder_config.hidden_size}")
        if dc.image_size != size:
            raise ConfigError(f"the decoder outputs {dc.image_size} px images but data.image_size is {size}")

        if self.run_cfg.parallel == "fsdp" and cfg.loss.disc_weight > 0 and self.rt.distributed:
            raise ConfigError("stage 1 with the GAN loss runs under DDP only (the adaptive weight needs the decoder's "
                              "unsharded last layer); set train.parallel: ddp")
        self.seed_model_init()
        decoder = ViTDecoder(dc)
        if cfg.init_decoder:
            decoder.load_state_dict(load_decoder(cfg.init_decoder, dc).state_dict())
        decoder = decoder.to(dev)
        self.wrapped = distributed.wrap(decoder, self.rt, self.run_cfg.parallel)
        precision.maybe_compile(decoder, self.run_cfg.compile, self.run_cfg.compile_mode, self.run_cfg.compile_backend)
        self.model = decoder
        self.pixels = LatentDecoder(decoder, self.encoder_config).to(dev)
        self.ema = EMA(decoder, self.run_cfg.ema_decay)
        self.optimizer = build_adamw(decoder.parameters(), cfg.optim, dev)
        spe = self.steps_per_epoch
        self.schedule = LRSchedule(self.optimizer, cfg.schedule, spe, cfg.optim.lr)

        L = cfg.loss
        self.lpips_start = epochs_to_steps(L.lpips_start_epoch, L.lpips_start_steps, spe)
        self.disc_start = epochs_to_steps(L.disc_start_epoch, L.disc_start_steps, spe)
        self.disc_update_start = epochs_to_steps(L.disc_update_start_epoch, L.disc_update_start_steps, spe)
        lp = cfg.lpips
        self.lpips = build_lpips(lp.vgg_weights, lp.lin_weights, lp.random_init).to(dev) if L.perceptual_weight > 0 \
            else None
        self.disc = None
        if L.disc_weight > 0:
            backbone, heads = build_discriminator(cfg.disc)
            self.disc_backbone, self.disc = backbone.to(dev), heads.to(dev).eval()
            self.disc_wrapped = distributed.wrap(self.disc, self.rt, "ddp")
            self.disc_optimizer = build_adamw(self.disc.parameters(), cfg.disc_optim, dev)
            self.disc_schedule = LRSchedule(self.disc_optimizer, cfg.disc_schedule, spe, cfg.disc_optim.lr)
            self.d_loss = D_LOSSES[L.disc_loss]
        self.seed_per_rank()
        n_params = sum(p.numel() for p in decoder.parameters() if p.requires_grad)
        log.info("stage 1: decoder %.2fM parameters, %d tokens of %d -> %d px; LPIPS from step %s, GAN from step %s, "
                 "discriminator updates from step %s", n_params / 1e6, dc.num_patches, dc.latent_dim, size,
                 self.lpips_start if self.lpips else "never", self.disc_start if self.disc else "never",
                 self.disc_update_start if self.disc else "never")

    # ------------------------------------------------------------------------------- one step

    def noised(self, tokens: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
        tau = self.cfg.noise_tau
        if tau <= 0:
            return tokens
        u = to_device(uniforms(seeds, Stream.NOISING_SCALE)[:, 0], tokens.device).view(-1, 1, 1)
        eps = normals(seeds, Stream.NOISING, tokens.shape[1:], tokens.device)
        return tokens + tau * u * eps

    def train_step(self, batches: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        dev, k, L = self.rt.device, len(batches), self.cfg.loss
        use_lpips = self.lpips is not None and self.step >= self.lpips_start
        use_gan = self.disc is not None and self.step >= self.disc_start
        train_disc = self.disc is not None and self.step >= self.disc_update_start
        sums = {name: torch.zeros((), device=dev) for name in ("loss", "rec", "lpips", "gan", "d_weight")}
        kept = []
        if self.disc is not None:
            self.disc.requires_grad_(False)
        for i, batch in enumerate(batches):
            x = batch["image"].to(dev, non_blocking=True)
            seeds = batch["seed"]
            with torch.no_grad(), self.autocast():
                tokens = self.codec.tokens(x).float()
            kept.append((x, tokens, seeds))
            with distributed.gradient_sync(self.wrapped, i == k - 1):
                with self.autocast():
                    recon = self.pixels.from_tokens(self.noised(tokens, seeds), self.wrapped)
                recon = recon.float()
                rec = (recon - x).abs().mean()
                lp = torch.zeros((), device=dev)
                if use_lpips:
                    with self.autocast():
                        lp = self.lpips(2 * x - 1, 2 * recon - 1).float().mean()
                recon_total = rec + L.perceptual_weight * lp
                total, gan, weight = recon_total, torch.zeros((), device=dev), torch.zeros((), device=dev)
                if use_gan:
                    fake = diffaug(2 * recon - 1, seeds, Stream.AUG_G, self.cfg.disc.aug_prob, self.cfg.disc.cutout)
                    with self.autocast():
                        gan = generator_loss(self.disc(self.disc_backbone(fake)).float())
                    weight = adaptive_weight(recon_total, gan, self.model.decoder_pred.weight, L.max_d_weight,
                                             sync=self.rt.distributed)
                    total = recon_total + L.disc_weight * weight * gan
                self.backward(total / k)
            for name, v in (("loss", total), ("rec", rec), ("lpips", lp), ("gan", gan), ("d_weight", weight)):
                sums[name] += v.detach() / k
        norm = self.optimizer_step(self.optimizer, list(self.model.parameters()), self.run_cfg.clip_grad)
        self.schedule.step()
        self.ema.update()
        if norm is not None:
            sums["grad_norm"] = norm.detach()
        if train_disc:
            sums.update(self.disc_step(kept))
        return sums

    def disc_step(self, kept) -> dict[str, torch.Tensor]:
        """Hinge (or vanilla) steps of the discriminator heads on the micro-batches of this step."""
        dev, k = self.rt.device, len(kept)
        aug = self.cfg.disc
        self.disc.requires_grad_(True)
        self.disc.train()
        out = {name: torch.zeros((), device=dev) for name in ("d_loss", "logits_real", "logits_fake", "d_acc")}
        for u in range(self.cfg.loss.disc_updates):
            for i, (x, tokens, seeds) in enumerate(kept):
                with torch.no_grad():
                    with self.autocast():
                        fake = self.pixels.from_tokens(tokens)
                    fake = quantize(2 * fake.float() - 1)
                    fake = diffaug(fake, seeds, Stream.AUG_D_FAKE + 16 * u, aug.aug_prob, aug.cutout)
                    real = diffaug(2 * x - 1, seeds, Stream.AUG_D_REAL + 16 * u, aug.aug_prob, aug.cutout)
                    with self.autocast():
                        feats = self.disc_backbone(torch.cat([fake, real]))
                with distributed.gradient_sync(self.disc_wrapped, i == k - 1):
                    with self.autocast():
                        logits = self.disc_wrapped(feats).float()
                    logits_fake, logits_real = logits.chunk(2)
                    d_loss = self.d_loss(logits_real, logits_fake)
                    self.backward(d_loss / k)
                scale = 1.0 / (k * self.cfg.loss.disc_updates)
                out["d_loss"] += d_loss.detach() * scale
                out["logits_real"] += logits_real.detach().mean() * scale
                out["logits_fake"] += logits_fake.detach().mean() * scale
                out["d_acc"] += (logits_real > logits_fake).float().mean().detach() * scale
            self.optimizer_step(self.disc_optimizer, list(self.disc.parameters()), None)
            self.disc_schedule.step()
        self.disc.eval()
        self.disc.requires_grad_(False)
        return out

    # ------------------------------------------------------------------------------- state, samples, export

    def extra_state(self) -> dict:
        if self.disc is None:
            return {}
        from .checkpoints import optimizer_state

        return {"disc": {k: v.detach().cpu().clone() for k, v in self.disc.state_dict().items()},
                "disc_optimizer": optimizer_state(self.disc, self.disc_optimizer),
                "disc_scheduler": self.disc_schedule.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if self.disc is None:
            return
        if "disc" not in state:
            raise ConfigError("the checkpoint has no discriminator; it was trained with loss.disc_weight 0")
        from .checkpoints import load_optimizer_state

        self.disc.load_state_dict(state["disc"])
        load_optimizer_state(self.disc, self.disc_optimizer, state["disc_optimizer"])
        self.disc_schedule.load_state_dict(state["disc_scheduler"])

    def ema_decoder(self, state: dict[str, torch.Tensor]) -> ViTDecoder:
        decoder = ViTDecoder(self.decoder_config)
        decoder.load_state_dict(state)
        return decoder.eval()

    @torch.no_grad()
    def sample(self, tracker: Tracker) -> None:
        """Inputs (top row) and their EMA reconstructions (bottom row)."""
        state = self.ema.state_dict()
        if not self.rt.is_main:
            return
        n = min(self.run_cfg.sample_count, len(self.dataset))
        x = torch.stack([self.dataset[(i, i)]["image"] for i in range(n)]).to(self.rt.device)
        pixels = LatentDecoder(self.ema_decoder(state).to(self.rt.device), self.encoder_config).to(self.rt.device)
        recon = pixels.from_tokens(self.codec.tokens(x).float())
        grid = image_grid(torch.cat([x, recon.clamp(0, 1)]), nrow=n)
        save_png(grid, self.out / "samples" / f"step-{self.step:07d}.png")
        tracker.image(self.step, "samples/reconstruction", grid)

    def export(self) -> Path | None:
        state = self.ema.state_dict()
        if not self.rt.is_main:
            return None
        folder = self.out / "export" / "decoder"
        return save_model_folder(state, self.decoder_config, folder,
                                 provenance(stage="stage1", step=self.step, encoder=str(self.cfg.encoder),
                                            noise_tau=self.cfg.noise_tau))


def train_stage1(config: Stage1Config, runtime=None, callbacks=None) -> dict[str, float]:
    return Stage1Trainer(config, runtime, callbacks).fit()
