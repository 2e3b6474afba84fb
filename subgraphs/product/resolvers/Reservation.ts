import { encodeId } from '@mall/platform';
import type { ReservationLineResolvers, ReservationResolvers } from './generated/types.ts';

export const Reservation: ReservationResolvers = {
  id: (reservation) => encodeId(reservation.id),
  orderId: (reservation) => encodeId(reservation.orderId),
};

export const ReservationLine: ReservationLineResolvers = {
  productId: (line) => encodeId(line.productId),
  product: (line, _, ctx) => ctx.catalog.productOfLine(ctx, line.productId),
};
